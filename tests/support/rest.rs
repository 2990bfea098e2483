//! Checks a request body against an operation of GitHub's published REST
//! description (the extracts in `functions/core/tests/data/`, each with the
//! components it references): types, required fields, enums, lengths and
//! counts, `$ref`s, and the `oneOf`/`anyOf` alternatives (a completed check run
//! must carry its conclusion).

use serde_json::Value;

/// The extract `file` (e.g. `checks-create.json`).
pub fn description(file: &str) -> Value {
    let path = crate::workspace_root()
        .join("functions/core/tests/data")
        .join(file);
    let text =
        std::fs::read_to_string(&path).unwrap_or_else(|err| panic!("{}: {err}", path.display()));
    serde_json::from_str(&text).unwrap_or_else(|err| panic!("{}: {err}", path.display()))
}

/// Whether `body` is a valid request body for `method` on `path` in `spec`;
/// the error says where it is not.
pub fn check_request(spec: &Value, path: &str, method: &str, body: &Value) -> Result<(), String> {
    let operation = &spec["paths"][path][method];
    if operation.is_null() {
        return Err(format!("{method} {path} is not in the description"));
    }
    let schema = &operation["requestBody"]["content"]["application/json"]["schema"];
    validate(spec, schema, body, "body")
}

fn resolve<'a>(spec: &'a Value, schema: &'a Value) -> &'a Value {
    match schema["$ref"].as_str() {
        Some(reference) => {
            let pointer = reference.trim_start_matches('#');
            resolve(spec, spec.pointer(pointer).unwrap_or(&Value::Null))
        }
        None => schema,
    }
}

fn validate(spec: &Value, schema: &Value, value: &Value, at: &str) -> Result<(), String> {
    let schema = resolve(spec, schema);
    if schema.is_null() {
        return Err(format!("{at}: unresolved schema"));
    }
    if value.is_null() && schema["nullable"] == true {
        return Ok(());
    }
    for key in ["oneOf", "anyOf"] {
        if let Some(alternatives) = schema[key].as_array() {
            let errors: Vec<String> = alternatives
                .iter()
                .filter_map(|alternative| validate(spec, alternative, value, at).err())
                .collect();
            if errors.len() == alternatives.len() {
                return Err(format!("{at}: matches none of {key}: {errors:?}"));
            }
        }
    }
    if let Some(allowed) = schema["enum"].as_array() {
        if !allowed.contains(value) {
            return Err(format!("{at} = {value} is not one of {allowed:?}"));
        }
    }
    match schema["type"].as_str() {
        Some("object") | None if value.is_object() => {
            let object = value.as_object().unwrap();
            for required in schema["required"].as_array().into_iter().flatten() {
                let name = required.as_str().unwrap_or_default();
                if !object.contains_key(name) {
                    return Err(format!("{at}: required {name} is missing"));
                }
            }
            if let Some(properties) = schema["properties"].as_object() {
                for (name, field) in object {
                    let Some(property) = properties.get(name) else {
                        if schema["additionalProperties"] == true {
                            continue;
                        }
                        return Err(format!("{at}.{name} is not in the description"));
                    };
                    validate(spec, property, field, &format!("{at}.{name}"))?;
                }
            }
            Ok(())
        }
        Some("object") => Err(format!("{at}: expected an object, got {value}")),
        Some("array") => {
            let items = value
                .as_array()
                .ok_or_else(|| format!("{at}: expected an array, got {value}"))?;
            if let Some(max) = schema["maxItems"].as_u64() {
                if items.len() as u64 > max {
                    return Err(format!("{at}: {} items, at most {max}", items.len()));
                }
            }
            for (index, item) in items.iter().enumerate() {
                validate(spec, &schema["items"], item, &format!("{at}[{index}]"))?;
            }
            Ok(())
        }
        Some("string") => {
            let text = value
                .as_str()
                .ok_or_else(|| format!("{at}: expected a string, got {value}"))?;
            if let Some(max) = schema["maxLength"].as_u64() {
                if text.chars().count() as u64 > max {
                    return Err(format!(
                        "{at}: {} characters, at most {max}",
                        text.chars().count()
                    ));
                }
            }
            Ok(())
        }
        Some("integer") if value.is_i64() || value.is_u64() => Ok(()),
        Some("boolean") if value.is_boolean() => Ok(()),
        Some("number") if value.is_number() => Ok(()),
        Some(other) => Err(format!("{at}: expected {other}, got {value}")),
        None => Ok(()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_check_runs_description_refuses_what_github_would() {
        let spec = description("checks-create.json");
        let path = "/repos/{owner}/{repo}/check-runs";
        let ok = serde_json::json!({"name": "ci", "head_sha": "abc", "status": "in_progress",
            "output": {"title": "t", "summary": "s"}});
        check_request(&spec, path, "post", &ok).unwrap();
        let bad = [
            serde_json::json!({"head_sha": "abc"}),
            serde_json::json!({"name": "ci", "head_sha": "abc", "status": "running"}),
            serde_json::json!({"name": "ci", "head_sha": "abc", "colour": "red"}),
            serde_json::json!({"name": "ci", "head_sha": "abc", "output": {"title": "t", "summary": "x".repeat(65_536)}}),
            serde_json::json!({"name": "ci", "head_sha": "abc", "status": "completed"}),
        ];
        for body in bad {
            assert!(check_request(&spec, path, "post", &body).is_err(), "{body}");
        }
    }
}
