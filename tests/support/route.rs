//! Sends chosen operations of an SDK client to another endpoint, so one client
//! talks to moto for what moto implements and to an HTTP stand-in for the rest
//! (moto answers 500 to `ListActionExecutions`, and runs no execution for long
//! enough to be read in progress).

use aws_smithy_runtime_api::box_error::BoxError;
use aws_smithy_runtime_api::client::interceptors::context::BeforeTransmitInterceptorContextMut;
use aws_smithy_runtime_api::client::interceptors::Intercept;
use aws_smithy_runtime_api::client::runtime_components::RuntimeComponents;
use aws_smithy_types::config_bag::ConfigBag;

#[derive(Debug, Clone)]
pub struct RouteOperations {
    endpoint: String,
    operations: Vec<String>,
}

impl RouteOperations {
    /// Requests for `operations` (by name, e.g. `ListActionExecutions`, as the
    /// JSON protocol's `X-Amz-Target` ends) go to `endpoint`.
    pub fn new(endpoint: &str, operations: &[&str]) -> Self {
        RouteOperations {
            endpoint: endpoint.to_owned(),
            operations: operations.iter().map(|o| (*o).to_owned()).collect(),
        }
    }
}

impl Intercept for RouteOperations {
    fn name(&self) -> &'static str {
        "RouteOperations"
    }

    /// Before signing, so the signed host is the one the request goes to.
    fn modify_before_signing(
        &self,
        context: &mut BeforeTransmitInterceptorContextMut<'_>,
        _components: &RuntimeComponents,
        _cfg: &mut ConfigBag,
    ) -> Result<(), BoxError> {
        let request = context.request_mut();
        let operation = request
            .headers()
            .get("x-amz-target")
            .and_then(|target| target.rsplit_once('.'))
            .map(|(_, operation)| operation.to_owned());
        if operation.is_some_and(|operation| self.operations.contains(&operation)) {
            request.uri_mut().set_endpoint(&self.endpoint)?;
        }
        Ok(())
    }
}
