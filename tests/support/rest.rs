//! Checks a request or response body against an operation of GitHub's
//! published REST description (the extracts in `functions/core/tests/data/`,
//! each with the components it references).
//!
//! Checked: `type` (one name or a list of them), `nullable`, `enum`,
//! `required`, `properties` (a property the description does not declare is
//! refused unless `additionalProperties` allows it), `additionalProperties`
//! (`true`, `false` or a schema the extra properties must match), `items`,
//! `maxItems`, `maxLength`, `$ref`s, `allOf` (every part), `anyOf` (at least one
//! alternative) and `oneOf` (exactly one: a completed check run must carry its
//! conclusion). `title`, `description`, `example(s)`, `default`, `deprecated`,
//! `format`, `discriminator`, `readOnly`, `writeOnly`, `externalDocs`, `xml`
//! and `x-*` extensions are annotations and constrain nothing here. A schema
//! using any other keyword is refused, so nothing is skipped unnoticed.

use serde_json::{Map, Value};

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

/// Whether `body` is a valid `application/json` body of the `status` response
/// (e.g. `"200"`) to `method` on `path` in `spec`, the response object's own
/// `$ref` (`#/components/responses/...`) followed; the error says where it is
/// not.
pub fn check_response(
    spec: &Value,
    path: &str,
    method: &str,
    status: &str,
    body: &Value,
) -> Result<(), String> {
    let operation = &spec["paths"][path][method];
    if operation.is_null() {
        return Err(format!("{method} {path} is not in the description"));
    }
    let response = &operation["responses"][status];
    if response.is_null() {
        return Err(format!("{method} {path} documents no {status} response"));
    }
    let response = resolve(spec, response);
    if response.is_null() {
        return Err(format!(
            "{method} {path}: the {status} response's $ref does not resolve"
        ));
    }
    let schema = &response["content"]["application/json"]["schema"];
    if schema.is_null() {
        return Err(format!(
            "{method} {path}: the {status} response has no application/json body"
        ));
    }
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

/// The keywords `validate` checks.
const CHECKED: &[&str] = &[
    "$ref",
    "type",
    "nullable",
    "enum",
    "required",
    "properties",
    "additionalProperties",
    "items",
    "maxItems",
    "maxLength",
    "allOf",
    "anyOf",
    "oneOf",
];

/// The keywords that describe a value without constraining it.
const ANNOTATIONS: &[&str] = &[
    "title",
    "description",
    "example",
    "examples",
    "default",
    "deprecated",
    "format",
    "discriminator",
    "readOnly",
    "writeOnly",
    "externalDocs",
    "xml",
];

fn unsupported(schema: &Value) -> Option<&str> {
    schema
        .as_object()?
        .keys()
        .map(String::as_str)
        .find(|key| !key.starts_with("x-") && !CHECKED.contains(key) && !ANNOTATIONS.contains(key))
}

fn validate(spec: &Value, schema: &Value, value: &Value, at: &str) -> Result<(), String> {
    validate_part(spec, schema, value, at, false)
}

/// `part`: `schema` is one of an `allOf`'s parts, so the properties it does not
/// declare are left to the schema holding the `allOf`.
fn validate_part(
    spec: &Value,
    schema: &Value,
    value: &Value,
    at: &str,
    part: bool,
) -> Result<(), String> {
    let schema = resolve(spec, schema);
    if schema.is_null() {
        return Err(format!("{at}: unresolved schema"));
    }
    if let Some(keyword) = unsupported(schema) {
        return Err(format!(
            "{at}: the description uses {keyword}, which this check does not implement"
        ));
    }
    if value.is_null() && schema["nullable"] == true {
        return Ok(());
    }
    for each in schema["allOf"].as_array().into_iter().flatten() {
        validate_part(spec, each, value, at, true)?;
    }
    if let Some(alternatives) = schema["anyOf"].as_array() {
        let errors: Vec<String> = alternatives
            .iter()
            .filter_map(|alternative| validate(spec, alternative, value, at).err())
            .collect();
        if errors.len() == alternatives.len() {
            return Err(format!("{at}: matches none of anyOf: {errors:?}"));
        }
    }
    if let Some(alternatives) = schema["oneOf"].as_array() {
        let errors: Vec<String> = alternatives
            .iter()
            .filter_map(|alternative| validate(spec, alternative, value, at).err())
            .collect();
        match alternatives.len() - errors.len() {
            1 => {}
            0 => return Err(format!("{at}: matches none of oneOf: {errors:?}")),
            matched => {
                return Err(format!(
                    "{at}: matches {matched} of oneOf's alternatives, not exactly one"
                ))
            }
        }
    }
    if let Some(allowed) = schema["enum"].as_array() {
        if !allowed.contains(value) {
            return Err(format!("{at} = {value} is not one of {allowed:?}"));
        }
    }
    let types: Vec<&str> = match &schema["type"] {
        Value::Null => Vec::new(),
        Value::String(name) => vec![name.as_str()],
        Value::Array(names) => names.iter().filter_map(Value::as_str).collect(),
        other => {
            return Err(format!(
                "{at}: the description's type {other} is not a type"
            ))
        }
    };
    if !types.is_empty() && !types.iter().any(|name| is_of_type(name, value)) {
        let expected: Vec<String> = types.iter().map(|name| a(name)).collect();
        return Err(format!(
            "{at}: expected {}, got {value}",
            expected.join(" or ")
        ));
    }
    match value {
        Value::Object(object) => validate_object(spec, schema, object, at, part),
        Value::Array(items) => {
            if let Some(max) = schema["maxItems"].as_u64() {
                if items.len() as u64 > max {
                    return Err(format!("{at}: {} items, at most {max}", items.len()));
                }
            }
            if !schema["items"].is_null() {
                for (index, item) in items.iter().enumerate() {
                    validate(spec, &schema["items"], item, &format!("{at}[{index}]"))?;
                }
            }
            Ok(())
        }
        Value::String(text) => {
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
        _ => Ok(()),
    }
}

fn is_of_type(name: &str, value: &Value) -> bool {
    match name {
        "object" => value.is_object(),
        "array" => value.is_array(),
        "string" => value.is_string(),
        "integer" => value.is_i64() || value.is_u64(),
        "number" => value.is_number(),
        "boolean" => value.is_boolean(),
        "null" => value.is_null(),
        _ => false,
    }
}

fn a(name: &str) -> String {
    match name {
        "object" => "an object".to_string(),
        "array" => "an array".to_string(),
        "string" => "a string".to_string(),
        other => other.to_string(),
    }
}

fn validate_object(
    spec: &Value,
    schema: &Value,
    object: &Map<String, Value>,
    at: &str,
    part: bool,
) -> Result<(), String> {
    for required in schema["required"].as_array().into_iter().flatten() {
        let name = required.as_str().unwrap_or_default();
        if !object.contains_key(name) {
            return Err(format!("{at}: required {name} is missing"));
        }
    }
    for (name, field) in object {
        let at = format!("{at}.{name}");
        if let Some(property) = schema["properties"].get(name) {
            validate(spec, property, field, &at)?;
            continue;
        }
        match &schema["additionalProperties"] {
            Value::Bool(true) => {}
            Value::Bool(false) => return Err(format!("{at} is not in the description")),
            Value::Null if part => {}
            Value::Null => {
                if closed_to(spec, schema, name) {
                    return Err(format!("{at} is not in the description"));
                }
            }
            extra => validate(spec, extra, field, &at)?,
        }
    }
    Ok(())
}

/// Whether `schema` refuses a property `name` it has no `additionalProperties`
/// for: it (or one of its `allOf` parts) declares properties, none of them
/// `name`, and none of the parts allows others.
fn closed_to(spec: &Value, schema: &Value, name: &str) -> bool {
    fn admits(spec: &Value, schema: &Value, name: &str, declares: &mut bool) -> bool {
        let schema = resolve(spec, schema);
        if matches!(
            schema["additionalProperties"],
            Value::Bool(true) | Value::Object(_)
        ) {
            return true;
        }
        if let Some(properties) = schema["properties"].as_object() {
            *declares = true;
            if properties.contains_key(name) {
                return true;
            }
        }
        schema["allOf"]
            .as_array()
            .into_iter()
            .flatten()
            .any(|each| admits(spec, each, name, declares))
    }
    let mut declares = false;
    !admits(spec, schema, name, &mut declares) && declares
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

    const PULL: &str = "/repos/{owner}/{repo}/pulls/{pull_number}";
    const PERMISSION: &str = "/repos/{owner}/{repo}/collaborators/{username}/permission";

    /// GitHub's documented `200` examples, completed with the one field each
    /// omits that its schema requires at the extracted commit: `type` of a
    /// requested team (`team-simple`) and the collaborator's `role_name`
    /// (`nullable-collaborator`).
    fn documented_pull() -> Value {
        let mut pull = description("pull.response-200.json");
        pull["requested_teams"][0]["type"] = serde_json::json!("organization");
        pull
    }

    fn documented_permission() -> Value {
        let mut permission = description("collaborator-permission.response-200.json");
        permission["user"]["role_name"] = serde_json::json!("admin");
        permission
    }

    #[test]
    fn the_documented_pull_and_permission_examples_are_valid_responses() {
        let pulls = description("pulls-get.json");
        let permissions = description("repos-get-collaborator-permission-level.json");
        check_response(&pulls, PULL, "get", "200", &documented_pull()).unwrap();
        check_response(
            &permissions,
            PERMISSION,
            "get",
            "200",
            &documented_permission(),
        )
        .unwrap();
        // As published, each example lacks exactly the field filled in above.
        assert_eq!(
            check_response(
                &pulls,
                PULL,
                "get",
                "200",
                &description("pull.response-200.json")
            ),
            Err("body.requested_teams[0]: required type is missing".to_string())
        );
        assert_eq!(
            check_response(
                &permissions,
                PERMISSION,
                "get",
                "200",
                &description("collaborator-permission.response-200.json")
            ),
            Err("body.user: required role_name is missing".to_string())
        );
    }

    #[test]
    fn responses_github_would_not_send_are_refused() {
        let pulls = description("pulls-get.json");
        let mut pull = documented_pull();
        pull["head"].as_object_mut().unwrap().remove("sha");
        assert_eq!(
            check_response(&pulls, PULL, "get", "200", &pull),
            Err("body.head: required sha is missing".to_string())
        );

        let permissions = description("repos-get-collaborator-permission-level.json");
        let mut permission = documented_permission();
        permission["permission"] = serde_json::json!(42);
        assert_eq!(
            check_response(&permissions, PERMISSION, "get", "200", &permission),
            Err("body.permission: expected a string, got 42".to_string())
        );

        // A 404 is `$ref`d to components/responses/not_found (basic-error).
        let not_found = serde_json::json!({"message": "Not Found", "documentation_url": "https://docs.github.com/rest"});
        check_response(&pulls, PULL, "get", "404", &not_found).unwrap();
        assert!(check_response(
            &pulls,
            PULL,
            "get",
            "404",
            &serde_json::json!({"message": 404})
        )
        .is_err());
        assert!(check_response(&pulls, PULL, "get", "201", &documented_pull()).is_err());
        assert!(check_response(&pulls, PULL, "post", "200", &documented_pull()).is_err());
    }

    #[test]
    fn the_documented_pull_files_example_is_a_valid_response() {
        const FILES: &str = "/repos/{owner}/{repo}/pulls/{pull_number}/files";
        let spec = description("pulls-list-files.json");
        // As published, GitHub's example satisfies diff-entry as it stands.
        let mut files = description("pull-files.response-200.json");
        check_response(&spec, FILES, "get", "200", &files).unwrap();

        files[0].as_object_mut().unwrap().remove("filename");
        assert_eq!(
            check_response(&spec, FILES, "get", "200", &files),
            Err("body[0]: required filename is missing".to_string())
        );
    }

    #[test]
    fn the_documented_commit_example_is_a_valid_response() {
        const COMMIT: &str = "/repos/{owner}/{repo}/commits/{ref}";
        let spec = description("repos-get-commit.json");
        let published = description("commit.response-200.json");
        // As published, GitHub's example lacks two fields diff-entry requires
        // of files[0] at the extracted commit, in this order.
        assert_eq!(
            check_response(&spec, COMMIT, "get", "200", &published),
            Err("body.files[0]: required contents_url is missing".to_string())
        );
        let mut commit = published.clone();
        commit["files"][0]["contents_url"] = serde_json::json!(
            "https://api.github.com/repos/octocat/Hello-World/contents/file1.txt?ref=7ca483543807a51b6079e54ac4cc392bc29ae284"
        );
        assert_eq!(
            check_response(&spec, COMMIT, "get", "200", &commit),
            Err("body.files[0]: required sha is missing".to_string())
        );
        // diff-entry's own example value for sha.
        commit["files"][0]["sha"] = serde_json::json!("bbcd538c8e72b8c175046e27cc8f907076331401");
        check_response(&spec, COMMIT, "get", "200", &commit).unwrap();

        commit["commit"].as_object_mut().unwrap().remove("message");
        assert_eq!(
            check_response(&spec, COMMIT, "get", "200", &commit),
            Err("body.commit: required message is missing".to_string())
        );
    }

    #[test]
    fn the_documented_compare_example_is_a_valid_response() {
        const COMPARE: &str = "/repos/{owner}/{repo}/compare/{basehead}";
        let spec = description("repos-compare-commits.json");
        // As published, GitHub's example satisfies commit-comparison as it stands.
        let mut compare = description("compare.response-200.json");
        check_response(&spec, COMPARE, "get", "200", &compare).unwrap();

        compare["files"][0]
            .as_object_mut()
            .unwrap()
            .remove("filename");
        assert_eq!(
            check_response(&spec, COMPARE, "get", "200", &compare),
            Err("body.files[0]: required filename is missing".to_string())
        );
    }

    #[test]
    fn the_schema_keywords_mean_what_json_schema_says() {
        let spec = serde_json::json!({"components": {"schemas": {
            "named": {"type": "object", "properties": {"name": {"type": "string"}}, "required": ["name"]},
            "aged": {"type": "object", "properties": {"age": {"type": "integer"}}},
        }}});
        let check = |schema: Value, value: Value| validate(&spec, &schema, &value, "body");
        let both = serde_json::json!({"allOf": [
            {"$ref": "#/components/schemas/named"},
            {"$ref": "#/components/schemas/aged"},
        ]});
        check(both.clone(), serde_json::json!({"name": "a", "age": 3})).unwrap();
        assert!(check(both.clone(), serde_json::json!({"age": 3})).is_err());
        assert!(check(both.clone(), serde_json::json!({"name": "a", "age": "3"})).is_err());
        assert!(check(both, serde_json::json!({"name": "a", "colour": "red"})).is_err());

        let one = serde_json::json!({"oneOf": [{"type": "integer"}, {"type": "number"}]});
        check(one.clone(), serde_json::json!(1.5)).unwrap();
        assert!(check(one.clone(), serde_json::json!(2)).is_err());
        assert!(check(one, serde_json::json!("2")).is_err());

        let either = serde_json::json!({"type": ["string", "null"]});
        check(either.clone(), serde_json::json!("x")).unwrap();
        check(either.clone(), Value::Null).unwrap();
        assert!(check(either, serde_json::json!(1)).is_err());
        check(
            serde_json::json!({"type": "string", "nullable": true}),
            Value::Null,
        )
        .unwrap();
        assert!(check(serde_json::json!({"type": "string"}), Value::Null).is_err());

        let counts = serde_json::json!({"type": "object", "properties": {"total": {"type": "integer"}},
            "additionalProperties": {"type": "integer"}});
        check(counts.clone(), serde_json::json!({"total": 2, "read": 1})).unwrap();
        assert!(check(counts, serde_json::json!({"total": 2, "read": "1"})).is_err());

        let unchecked = serde_json::json!({"type": "string", "pattern": "^a"});
        assert!(check(unchecked, serde_json::json!("b")).is_err());
    }
}
