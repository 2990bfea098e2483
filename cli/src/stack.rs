//! A deployed stack's parts, read by its name: its outputs name the queues,
//! the ledger table, the bus, the webhook's URL and the functions; the
//! functions' settings hold the routing document and the GitHub credential's
//! settings. Every subcommand takes its parts from here, or from options
//! (which win), so a stack that is not CloudFormation's works too.

use std::collections::BTreeMap;

#[derive(Debug, thiserror::Error)]
pub enum StackError {
    #[error("could not read stack {0}")]
    Describe(String, #[source] Box<aws_sdk_cloudformation::Error>),
    #[error("stack {0} does not exist (in this account and region)")]
    Missing(String),
    #[error("stack {stack} has no output {output}: deployed from an older template? Update the stack, or give the part as an option")]
    NoOutput { stack: String, output: &'static str },
    #[error("could not read the settings of function {0}")]
    Function(String, #[source] Box<aws_sdk_lambda::Error>),
}

/// The functions whose settings `gantry` reads.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Function {
    Trigger,
    Status,
}

impl Function {
    fn output(self) -> &'static str {
        match self {
            Function::Trigger => "TriggerFunctionName",
            Function::Status => "StatusFunctionName",
        }
    }
}

#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Deployment {
    pub stack: String,
    pub outputs: BTreeMap<String, String>,
    pub trigger_settings: BTreeMap<String, String>,
    pub status_settings: BTreeMap<String, String>,
}

impl Deployment {
    pub fn output(&self, name: &'static str) -> Result<&str, StackError> {
        self.outputs
            .get(name)
            .map(String::as_str)
            .ok_or_else(|| StackError::NoOutput {
                stack: self.stack.clone(),
                output: name,
            })
    }

    /// trigger's `GANTRY_ROUTES`: the routing document in use.
    pub fn routes(&self) -> Option<&str> {
        self.trigger_settings
            .get("GANTRY_ROUTES")
            .map(String::as_str)
    }

    /// Every queue whose messages need an operator, by the name the stack
    /// gives it (`TriggerDlq`, `StatusFailureQueue`), with its URL.
    pub fn operator_queues(&self) -> Vec<(String, String)> {
        self.outputs
            .iter()
            .filter(|(name, _)| name.ends_with("DlqUrl") || name.ends_with("FailureQueueUrl"))
            .map(|(name, url)| (name.trim_end_matches("Url").to_owned(), url.clone()))
            .collect()
    }

    /// status's setting `name` (the GitHub credential's, its API URL).
    pub fn status_setting(&self, name: &str) -> Option<&str> {
        self.status_settings.get(name).map(String::as_str)
    }
}

/// Reads stack `name`'s outputs and its trigger's and status's settings.
pub async fn read(
    cloudformation: &aws_sdk_cloudformation::Client,
    lambda: &aws_sdk_lambda::Client,
    name: &str,
) -> Result<Deployment, StackError> {
    let answer = cloudformation
        .describe_stacks()
        .stack_name(name)
        .send()
        .await
        .map_err(|err| {
            // CloudFormation answers an unknown stack with a ValidationError.
            let missing = err
                .as_service_error()
                .and_then(|e| e.meta().message())
                .is_some_and(|message| message.contains("does not exist"));
            if missing {
                StackError::Missing(name.to_owned())
            } else {
                StackError::Describe(name.to_owned(), Box::new(err.into()))
            }
        })?;
    let Some(stack) = answer.stacks().first() else {
        return Err(StackError::Missing(name.to_owned()));
    };
    let mut deployment = Deployment {
        stack: name.to_owned(),
        outputs: stack
            .outputs()
            .iter()
            .filter_map(|o| Some((o.output_key()?.to_owned(), o.output_value()?.to_owned())))
            .collect(),
        ..Deployment::default()
    };
    deployment.trigger_settings = settings(lambda, &deployment, Function::Trigger).await?;
    deployment.status_settings = settings(lambda, &deployment, Function::Status).await?;
    Ok(deployment)
}

async fn settings(
    lambda: &aws_sdk_lambda::Client,
    deployment: &Deployment,
    function: Function,
) -> Result<BTreeMap<String, String>, StackError> {
    let name = deployment.output(function.output())?;
    let answer = lambda
        .get_function_configuration()
        .function_name(name)
        .send()
        .await
        .map_err(|err| StackError::Function(name.to_owned(), Box::new(err.into())))?;
    Ok(answer
        .environment()
        .and_then(|e| e.variables())
        .map(|v| v.iter().map(|(k, v)| (k.clone(), v.clone())).collect())
        .unwrap_or_default())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_queues_an_operator_watches_are_the_dead_letter_and_failure_queues() {
        let deployment = Deployment {
            stack: "gantry".into(),
            outputs: [
                ("TriggerDlqUrl", "https://q/dlq"),
                ("TriggerQueueUrl", "https://q/queue"),
                ("StatusFailureQueueUrl", "https://q/failures"),
                ("LedgerTableName", "ledger"),
            ]
            .into_iter()
            .map(|(k, v)| (k.to_owned(), v.to_owned()))
            .collect(),
            ..Deployment::default()
        };
        assert_eq!(
            deployment.operator_queues(),
            vec![
                (
                    "StatusFailureQueue".to_owned(),
                    "https://q/failures".to_owned()
                ),
                ("TriggerDlq".to_owned(), "https://q/dlq".to_owned()),
            ]
        );
        assert_eq!(deployment.output("LedgerTableName").unwrap(), "ledger");
        let missing = deployment.output("EventBusName").unwrap_err().to_string();
        assert!(missing.contains("no output EventBusName"), "{missing}");
    }
}
