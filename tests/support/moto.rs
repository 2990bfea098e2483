//! moto's server as the local AWS endpoint: one process per test (state never
//! leaks between tests), on a free loopback port, killed on drop.

use aws_config::{Region, SdkConfig};
use aws_sdk_eventbridge::config::Credentials;
use std::net::TcpListener;
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

pub const REGION: &str = "us-east-1";
pub const ACCOUNT: &str = "123456789012";

pub struct Moto {
    child: Child,
    pub endpoint: String,
}

#[derive(Debug, thiserror::Error)]
pub enum MotoError {
    #[error("moto_server not found at {0}; run scripts/test (it installs moto into .venv/moto) or set GANTRY_MOTO_SERVER")]
    NotInstalled(PathBuf),
    #[error("could not start moto_server")]
    Spawn(#[from] std::io::Error),
    #[error("moto_server did not answer on {0} within 60 s")]
    NotReady(String),
}

/// `GANTRY_MOTO_SERVER`, or the server scripts/test installs.
pub fn moto_server_path() -> PathBuf {
    std::env::var_os("GANTRY_MOTO_SERVER")
        .map(PathBuf::from)
        .unwrap_or_else(|| crate::workspace_root().join(".venv/moto/bin/moto_server"))
}

impl Moto {
    pub async fn start() -> Result<Moto, MotoError> {
        let server = moto_server_path();
        if !server.exists() {
            return Err(MotoError::NotInstalled(server));
        }
        let port = free_port()?;
        let child = Command::new(&server)
            .args(["-H", "127.0.0.1", "-p", &port.to_string()])
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()?;
        let moto = Moto {
            child,
            endpoint: format!("http://127.0.0.1:{port}"),
        };
        moto.wait_ready().await?;
        Ok(moto)
    }

    async fn wait_ready(&self) -> Result<(), MotoError> {
        let address = self.endpoint.trim_start_matches("http://").to_owned();
        let deadline = Instant::now() + Duration::from_secs(60);
        while Instant::now() < deadline {
            // The server accepts connections only once its app is loaded.
            if let Ok(mut stream) = tokio::net::TcpStream::connect(&address).await {
                use tokio::io::{AsyncReadExt, AsyncWriteExt};
                let request =
                    format!("GET /moto-api/data.json HTTP/1.0\r\nHost: {address}\r\n\r\n");
                if stream.write_all(request.as_bytes()).await.is_ok() {
                    let mut head = [0u8; 12];
                    if stream.read_exact(&mut head).await.is_ok() && head.ends_with(b"200") {
                        return Ok(());
                    }
                }
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
        Err(MotoError::NotReady(self.endpoint.clone()))
    }

    /// An SDK config for this server, as the functions build theirs from the
    /// environment variables in [`Moto::env`].
    pub async fn sdk_config(&self) -> SdkConfig {
        gantry_core::aws::config_loader()
            .endpoint_url(&self.endpoint)
            .region(Region::new(REGION))
            .credentials_provider(Credentials::new("testing", "testing", None, None, "moto"))
            .load()
            .await
    }

    /// The standard SDK environment a function process needs to use this server.
    pub fn env(&self) -> Vec<(String, String)> {
        [
            ("AWS_ENDPOINT_URL", self.endpoint.as_str()),
            ("AWS_REGION", REGION),
            ("AWS_ACCESS_KEY_ID", "testing"),
            ("AWS_SECRET_ACCESS_KEY", "testing"),
            ("AWS_EC2_METADATA_DISABLED", "true"),
        ]
        .into_iter()
        .map(|(k, v)| (k.to_owned(), v.to_owned()))
        .collect()
    }
}

impl Drop for Moto {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

pub fn free_port() -> std::io::Result<u16> {
    Ok(TcpListener::bind("127.0.0.1:0")?.local_addr()?.port())
}
