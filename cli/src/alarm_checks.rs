//! `gantry doctor`'s alarms: does an alarm reach anyone? The stack's alarm
//! topic must have a confirmed subscription (an email subscription waits for
//! its link to be followed), every alarm of the stack must notify that topic,
//! and an alarm firing now is a failure in its own right. The age of a
//! queue's oldest message, where CloudWatch reports it, says how long a
//! problem has waited.

use crate::report::{Finding, Report};
use aws_sdk_cloudwatch::types::{Dimension, StateValue, Statistic};
use std::time::{Duration, SystemTime};

/// What the alarm checks look at: the stack's topic, and its alarms' names'
/// prefix (CloudFormation names them `<stack>-<LogicalId>-<suffix>`).
#[derive(Debug, Clone, Default)]
pub struct AlarmParts {
    pub topic: Option<String>,
    pub alarm_prefix: Option<String>,
}

pub struct AlarmClients<'a> {
    pub cloudwatch: &'a aws_sdk_cloudwatch::Client,
    pub sns: &'a aws_sdk_sns::Client,
}

pub async fn run(clients: &AlarmClients<'_>, parts: &AlarmParts, report: &mut Report) {
    if let Some(topic) = &parts.topic {
        report.push(check_topic(clients, topic).await);
    }
    if let Some(prefix) = &parts.alarm_prefix {
        check_alarms(clients, prefix, parts.topic.as_deref(), report).await;
    }
}

async fn check_topic(clients: &AlarmClients<'_>, topic: &str) -> Finding {
    let subject = "alarm topic";
    let mut confirmed = 0;
    let mut pending = 0;
    let mut token = None;
    loop {
        let answer = clients
            .sns
            .list_subscriptions_by_topic()
            .topic_arn(topic)
            .set_next_token(token.take())
            .send()
            .await;
        let output = match answer {
            Ok(output) => output,
            Err(err) => {
                return Finding::fail(
                    subject,
                    format!(
                        "{topic} unreadable: {}",
                        gantry_core::logging::error_chain(&aws_sdk_sns::Error::from(err))
                    ),
                    "check the stack's AlarmTopicArn, and that your credentials may sns:ListSubscriptionsByTopic",
                )
            }
        };
        for subscription in output.subscriptions() {
            // SNS lists an unconfirmed subscription with this in place of its ARN.
            if subscription.subscription_arn() == Some("PendingConfirmation") {
                pending += 1;
            } else {
                confirmed += 1;
            }
        }
        token = output.next_token().map(str::to_owned);
        if token.is_none() {
            break;
        }
    }
    match (confirmed, pending) {
        (0, 0) => Finding::fail(
            subject,
            format!("{topic} has no subscription: an alarm reaches no one"),
            "subscribe to it (the stack's AlarmEmail, or your own subscription)",
        ),
        (0, _) => Finding::fail(
            subject,
            format!("{topic}: {pending} subscriptions wait for confirmation; none is confirmed"),
            "follow the link in the email SNS sent when the stack subscribed it",
        ),
        _ => Finding::ok(
            subject,
            format!("{topic}: {confirmed} confirmed subscriptions"),
        ),
    }
}

async fn check_alarms(
    clients: &AlarmClients<'_>,
    prefix: &str,
    topic: Option<&str>,
    report: &mut Report,
) {
    let mut alarms = Vec::new();
    let mut token = None;
    loop {
        let answer = clients
            .cloudwatch
            .describe_alarms()
            .alarm_name_prefix(prefix)
            .set_next_token(token.take())
            .send()
            .await;
        match answer {
            Ok(output) => {
                alarms.extend(
                    output
                        .metric_alarms()
                        .iter()
                        .filter(|a| a.alarm_name().is_some_and(|n| of_the_stack(n, prefix)))
                        .cloned(),
                );
                token = output.next_token().map(str::to_owned);
                if token.is_none() {
                    break;
                }
            }
            Err(err) => {
                return report.push(Finding::fail(
                    "alarms",
                    format!(
                        "unreadable: {}",
                        gantry_core::logging::error_chain(&aws_sdk_cloudwatch::Error::from(err))
                    ),
                    "check that your credentials may cloudwatch:DescribeAlarms",
                ))
            }
        }
    }
    if alarms.is_empty() {
        return report.push(Finding::fail(
            "alarms",
            format!("no alarm is named {prefix}*"),
            "deploy the stack's alarms (they come with it), or name the stack as deployed",
        ));
    }
    let silent: Vec<&str> = alarms
        .iter()
        .filter(|a| topic.is_some_and(|t| !a.alarm_actions().iter().any(|x| x == t)))
        .filter_map(|a| a.alarm_name())
        .collect();
    if silent.is_empty() {
        report.push(Finding::ok(
            "alarms",
            format!("{} alarms, each notifying the alarm topic", alarms.len()),
        ));
    } else {
        report.push(Finding::fail(
            "alarms",
            format!("{} do not notify the alarm topic", silent.join(", ")),
            "update the stack: every alarm it deploys notifies AlarmTopicArn",
        ));
    }
    for alarm in alarms
        .iter()
        .filter(|a| a.state_value() == Some(&StateValue::Alarm))
    {
        report.push(Finding::fail(
            format!("alarm {}", alarm.alarm_name().unwrap_or("?")),
            format!(
                "firing: {}",
                alarm.state_reason().unwrap_or("no reason given")
            ),
            alarm
                .alarm_description()
                .map(|d| format!("it says: {d}"))
                .unwrap_or_else(|| "read the alarm's description".into()),
        ));
    }
}

/// Whether alarm `name` is one CloudFormation named for the stack whose
/// alarms are `prefix`ed: `<stack>-<LogicalId>-<suffix>`, the logical id one
/// word ending in `Alarm`, so `gantry-` does not take `gantry-staging-...`.
pub fn of_the_stack(name: &str, prefix: &str) -> bool {
    name.strip_prefix(prefix)
        .and_then(|rest| rest.split_once('-'))
        .is_some_and(|(logical_id, suffix)| logical_id.ends_with("Alarm") && !suffix.is_empty())
}

/// The age of `queue`'s oldest message over the last quarter hour, where
/// CloudWatch reports it (SQS publishes it every minute while the queue is
/// active).
pub async fn oldest_message_age(
    cloudwatch: &aws_sdk_cloudwatch::Client,
    queue_name: &str,
) -> Option<Duration> {
    let now = SystemTime::now();
    let answer = cloudwatch
        .get_metric_statistics()
        .namespace("AWS/SQS")
        .metric_name("ApproximateAgeOfOldestMessage")
        .dimensions(
            Dimension::builder()
                .name("QueueName")
                .value(queue_name)
                .build(),
        )
        .start_time((now - Duration::from_secs(900)).into())
        .end_time(now.into())
        .period(300)
        .statistics(Statistic::Maximum)
        .send()
        .await
        .ok()?;
    answer
        .datapoints()
        .iter()
        .filter_map(|d| d.maximum())
        .fold(None, |oldest: Option<f64>, age| {
            Some(oldest.map_or(age, |o| o.max(age)))
        })
        .map(|seconds| Duration::from_secs_f64(seconds.max(0.0)))
}

/// `17 min`, `3 h 5 min`, `2 d 4 h`.
pub fn human_age(age: Duration) -> String {
    let minutes = age.as_secs() / 60;
    match minutes {
        0..=59 => format!("{minutes} min"),
        60..=1439 => format!("{} h {} min", minutes / 60, minutes % 60),
        _ => format!("{} d {} h", minutes / 1440, (minutes % 1440) / 60),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_stacks_alarms_are_told_from_another_stacks_sharing_its_prefix() {
        assert!(of_the_stack("gantry-TriggerDlqAlarm-1A2B3C", "gantry-"));
        assert!(!of_the_stack(
            "gantry-staging-TriggerDlqAlarm-1A2B3C",
            "gantry-"
        ));
        assert!(of_the_stack(
            "gantry-staging-TriggerDlqAlarm-1A2B3C",
            "gantry-staging-"
        ));
        assert!(!of_the_stack("gantry-TriggerDlqAlarm", "gantry-"));
        assert!(!of_the_stack("other-TriggerDlqAlarm-1", "gantry-"));
    }

    #[test]
    fn ages_read_as_people_say_them() {
        assert_eq!(human_age(Duration::from_secs(17 * 60 + 5)), "17 min");
        assert_eq!(
            human_age(Duration::from_secs(3 * 3600 + 5 * 60)),
            "3 h 5 min"
        );
        assert_eq!(
            human_age(Duration::from_secs(2 * 86400 + 4 * 3600)),
            "2 d 4 h"
        );
    }
}
