//! `infra/template.yaml` and the route table in `chat_shared::routes` describe the same
//! deployment: the same functions, built from the same packages, serving the same routes.
//!
//! CloudFormation short tags (`!Ref`, `!Sub`, `!GetAtt`, ...) are rewritten to their long form
//! (`Ref`, `Fn::Sub`, `Fn::GetAtt`, ...) on load, so either spelling in the template works.

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};

use chat_shared::routes::{Function, HTTP_ROUTES, WS_ROUTES};
use serde_yaml::{Mapping, Value};

const TEMPLATE_PATH: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/../infra/template.yaml");

const SERVERLESS_FUNCTION: &str = "AWS::Serverless::Function";
const SERVERLESS_HTTP_API: &str = "AWS::Serverless::HttpApi";
const WS_API: &str = "AWS::ApiGatewayV2::Api";
const WS_ROUTE: &str = "AWS::ApiGatewayV2::Route";
const WS_ROUTE_RESPONSE: &str = "AWS::ApiGatewayV2::RouteResponse";
const WS_INTEGRATION: &str = "AWS::ApiGatewayV2::Integration";
const WS_AUTHORIZER: &str = "AWS::ApiGatewayV2::Authorizer";
const WS_DEPLOYMENT: &str = "AWS::ApiGatewayV2::Deployment";
const LAMBDA_PERMISSION: &str = "AWS::Lambda::Permission";

/// The template's `Resources`, keyed by logical id, with short tags rewritten to long form.
#[derive(Debug)]
struct Template {
    resources: BTreeMap<String, Value>,
}

impl Template {
    fn load() -> Self {
        let text =
            std::fs::read_to_string(TEMPLATE_PATH).unwrap_or_else(|e| panic!("cannot read {TEMPLATE_PATH}: {e}"));
        let document: Value =
            serde_yaml::from_str(&text).unwrap_or_else(|e| panic!("{TEMPLATE_PATH} is not valid YAML: {e}"));
        let resources = match normalize(document).get("Resources") {
            Some(Value::Mapping(resources)) => resources
                .iter()
                .map(|(id, resource)| {
                    let id = id.as_str().unwrap_or_else(|| panic!("resource id {id:?} is not a string"));
                    (id.to_owned(), resource.clone())
                })
                .collect(),
            _ => panic!("{TEMPLATE_PATH} has no Resources mapping"),
        };
        Template { resources }
    }

    fn resource(&self, id: &str) -> Option<&Value> {
        self.resources.get(id)
    }

    /// `(logical id, resource)` of every resource of this type.
    fn of_type<'a>(&'a self, resource_type: &'a str) -> impl Iterator<Item = (&'a str, &'a Value)> + 'a {
        self.resources.iter().filter(move |(_, r)| type_of(r) == Some(resource_type)).map(|(id, r)| (id.as_str(), r))
    }

    /// The logical ids of the resources of `resource_type` that `value` references
    /// (through `Ref`, `Fn::GetAtt`, `Fn::Sub`, at any depth).
    fn referenced(&self, value: &Value, resource_type: &str) -> BTreeSet<String> {
        let mut ids = BTreeSet::new();
        collect_references(value, &mut ids);
        ids.retain(|id| self.resource(id).and_then(type_of) == Some(resource_type));
        ids
    }

    /// The one resource of `resource_type` that `value` references; `what` names the value.
    fn single_reference(&self, value: Option<&Value>, resource_type: &str, what: &str) -> String {
        let value = value.unwrap_or_else(|| panic!("{what} is missing"));
        let ids = self.referenced(value, resource_type);
        let mut iter = ids.iter();
        match (iter.next(), iter.next()) {
            (Some(id), None) => id.clone(),
            _ => panic!("{what} must reference exactly one {resource_type}, found {ids:?} in {value:?}"),
        }
    }

    /// Route key -> logical id of every WebSocket route (duplicated keys fail the test).
    fn ws_routes(&self) -> BTreeMap<String, String> {
        let mut routes = BTreeMap::new();
        for (id, route) in self.of_type(WS_ROUTE) {
            let key = str_at(route, &["Properties", "RouteKey"])
                .unwrap_or_else(|| panic!("route {id} has no literal Properties.RouteKey"));
            if let Some(other) = routes.insert(key.to_owned(), id.to_owned()) {
                panic!("route key {key:?} is declared twice: {other} and {id}");
            }
        }
        routes
    }

    /// The function behind a WebSocket route: Target -> Integration -> IntegrationUri.
    fn ws_route_function(&self, route_id: &str) -> String {
        let route = self.resource(route_id).unwrap_or_else(|| panic!("route {route_id} does not exist"));
        let integration_id = self.single_reference(
            get(route, &["Properties", "Target"]),
            WS_INTEGRATION,
            &format!("{route_id}.Properties.Target"),
        );
        let integration =
            self.resource(&integration_id).unwrap_or_else(|| panic!("integration {integration_id} does not exist"));
        assert_eq!(
            str_at(integration, &["Properties", "IntegrationType"]),
            Some("AWS_PROXY"),
            "integration {integration_id} (of route {route_id}) must be a Lambda proxy integration"
        );
        self.single_reference(
            get(integration, &["Properties", "IntegrationUri"]),
            SERVERLESS_FUNCTION,
            &format!("{integration_id}.Properties.IntegrationUri"),
        )
    }
}

/// Rewrites `!Ref x` to `{Ref: x}` and `!Name x` to `{"Fn::Name": x}`, recursively.
fn normalize(value: Value) -> Value {
    match value {
        Value::Tagged(tagged) => {
            let tag = tagged.tag.to_string();
            let name = tag.trim_start_matches('!');
            let key = match name {
                "Ref" | "Condition" => name.to_owned(),
                _ => format!("Fn::{name}"),
            };
            let mut mapping = Mapping::new();
            mapping.insert(Value::String(key), normalize(tagged.value));
            Value::Mapping(mapping)
        }
        Value::Mapping(mapping) => {
            Value::Mapping(mapping.into_iter().map(|(k, v)| (normalize(k), normalize(v))).collect())
        }
        Value::Sequence(items) => Value::Sequence(items.into_iter().map(normalize).collect()),
        scalar => scalar,
    }
}

/// Collects every logical id (or parameter name) that `value` references.
fn collect_references(value: &Value, ids: &mut BTreeSet<String>) {
    match value {
        Value::Mapping(mapping) => {
            for (key, inner) in mapping {
                match (key.as_str(), inner) {
                    (Some("Ref"), Value::String(id)) => {
                        ids.insert(id.clone());
                    }
                    // `!GetAtt Fn.Arn` or `[Fn, Arn]`
                    (Some("Fn::GetAtt"), Value::String(target)) => {
                        ids.insert(target.split('.').next().unwrap_or(target).to_owned());
                    }
                    (Some("Fn::GetAtt"), Value::Sequence(parts)) => {
                        if let Some(id) = parts.first().and_then(Value::as_str) {
                            ids.insert(id.to_owned());
                        }
                    }
                    (Some("Fn::Sub"), Value::String(text)) => ids.extend(sub_references(text)),
                    // `[text, {Var: value}]`: the variables are local names, their values may reference.
                    (Some("Fn::Sub"), Value::Sequence(parts)) => {
                        let locals: BTreeSet<&str> = match parts.get(1) {
                            Some(Value::Mapping(vars)) => vars.keys().filter_map(Value::as_str).collect(),
                            _ => BTreeSet::new(),
                        };
                        if let Some(text) = parts.first().and_then(Value::as_str) {
                            ids.extend(sub_references(text).into_iter().filter(|id| !locals.contains(id.as_str())));
                        }
                        if let Some(vars) = parts.get(1) {
                            collect_references(vars, ids);
                        }
                    }
                    _ => collect_references(inner, ids),
                }
            }
        }
        Value::Sequence(items) => items.iter().for_each(|item| collect_references(item, ids)),
        _ => {}
    }
}

/// The names inside `${...}` of an `Fn::Sub` string (`${Fn.Arn}` -> `Fn`), without
/// pseudo parameters (`${AWS::Region}`) and literals (`${!Literal}`).
fn sub_references(text: &str) -> Vec<String> {
    let mut names = Vec::new();
    let mut rest = text;
    while let Some(start) = rest.find("${") {
        rest = &rest[start + 2..];
        let Some(end) = rest.find('}') else { break };
        let inner = &rest[..end];
        rest = &rest[end + 1..];
        if inner.starts_with('!') || inner.contains("::") {
            continue;
        }
        let name = inner.split('.').next().unwrap_or(inner).trim();
        if !name.is_empty() {
            names.push(name.to_owned());
        }
    }
    names
}

fn get<'a>(value: &'a Value, path: &[&str]) -> Option<&'a Value> {
    path.iter().try_fold(value, |v, key| v.get(*key))
}

fn str_at<'a>(value: &'a Value, path: &[&str]) -> Option<&'a str> {
    get(value, path).and_then(Value::as_str)
}

fn type_of(resource: &Value) -> Option<&str> {
    str_at(resource, &["Type"])
}

/// A scalar as text, so `"2.0"` and `2.0` compare alike.
fn scalar_text(value: Option<&Value>) -> Option<String> {
    match value? {
        Value::String(s) => Some(s.clone()),
        Value::Number(n) => Some(n.to_string()),
        Value::Bool(b) => Some(b.to_string()),
        _ => None,
    }
}

fn function_for_logical_id(id: &str) -> Option<Function> {
    Function::ALL.into_iter().find(|f| f.logical_id() == id)
}

fn repo_root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("..")
}

/// Every function in the route table is a Serverless::Function built by cargo-lambda from its package.
#[test]
fn every_function_in_the_route_table_is_a_serverless_function_built_from_its_package() {
    let template = Template::load();
    for function in Function::ALL {
        let id = function.logical_id();
        let resource =
            template.resource(id).unwrap_or_else(|| panic!("{function:?}: the template has no resource {id}"));
        assert_eq!(type_of(resource), Some(SERVERLESS_FUNCTION), "{id} must be an {SERVERLESS_FUNCTION}");
        assert_eq!(
            str_at(resource, &["Metadata", "BuildMethod"]),
            Some("rust-cargolambda"),
            "{id} must be built with Metadata.BuildMethod: rust-cargolambda"
        );
        assert_eq!(
            str_at(resource, &["Metadata", "BuildProperties", "Binary"]),
            Some(function.package()),
            "{id} must build the binary of package {} (Metadata.BuildProperties.Binary)",
            function.package()
        );
    }
}

/// The template declares no Serverless::Function that the route table does not know.
#[test]
fn the_template_declares_no_function_missing_from_the_route_table() {
    let template = Template::load();
    let unknown: Vec<&str> = template
        .of_type(SERVERLESS_FUNCTION)
        .map(|(id, _)| id)
        .filter(|id| function_for_logical_id(id).is_none())
        .collect();
    assert!(
        unknown.is_empty(),
        "functions in infra/template.yaml missing from chat_shared::routes::Function: {unknown:?}"
    );
}

/// Each directory under functions/ is a package of the route table, and each route-table function has one.
#[test]
fn every_function_package_directory_is_in_the_route_table_and_vice_versa() {
    let functions_dir = repo_root().join("functions");
    let entries =
        std::fs::read_dir(&functions_dir).unwrap_or_else(|e| panic!("cannot list {}: {e}", functions_dir.display()));
    let mut directories = BTreeSet::new();
    for entry in entries {
        let entry = entry.unwrap_or_else(|e| panic!("cannot read an entry of {}: {e}", functions_dir.display()));
        if entry.path().is_dir() {
            directories.insert(entry.file_name().to_string_lossy().into_owned());
        }
    }
    let unknown: Vec<&String> = directories.iter().filter(|d| Function::from_package(d).is_none()).collect();
    assert!(unknown.is_empty(), "functions/ holds packages missing from chat_shared::routes::Function: {unknown:?}");

    for function in Function::ALL {
        let package = function.package();
        let manifest = functions_dir.join(package).join("Cargo.toml");
        let text = std::fs::read_to_string(&manifest)
            .unwrap_or_else(|e| panic!("{function:?}: cannot read {}: {e}", manifest.display()));
        assert!(
            text.lines().any(|line| line.trim() == format!("name = \"{package}\"")),
            "{} must declare package name {package:?} (the binary SAM builds)",
            manifest.display()
        );
    }
}

/// The WebSocket API's route keys are exactly those of WS_ROUTES.
#[test]
fn the_websocket_routes_in_the_template_are_exactly_the_route_table_routes() {
    let template = Template::load();
    let in_template: BTreeSet<String> = template.ws_routes().into_keys().collect();
    let in_table: BTreeSet<String> = WS_ROUTES.iter().map(|r| r.route_key.to_owned()).collect();
    assert_eq!(
        in_template, in_table,
        "WebSocket route keys differ (left: infra/template.yaml, right: chat_shared::routes::WS_ROUTES)"
    );
}

/// Each WebSocket route's integration invokes the function the route table assigns to it.
#[test]
fn every_websocket_route_in_the_template_is_served_by_the_function_in_the_route_table() {
    let template = Template::load();
    let routes = template.ws_routes();
    for route in WS_ROUTES {
        let route_id =
            routes.get(route.route_key).unwrap_or_else(|| panic!("the template has no route {:?}", route.route_key));
        let function_id = template.ws_route_function(route_id);
        assert_eq!(
            function_id,
            route.function.logical_id(),
            "route {:?} ({route_id}) is served by {function_id} in the template but by {:?} in the route table",
            route.route_key,
            route.function
        );
    }
}

/// Exactly the two-way routes have a `$default` route response (and select it).
#[test]
fn only_two_way_routes_have_a_route_response() {
    let template = Template::load();
    let mut responded: BTreeMap<String, Vec<&str>> = BTreeMap::new();
    for (id, response) in template.of_type(WS_ROUTE_RESPONSE) {
        assert_eq!(
            str_at(response, &["Properties", "RouteResponseKey"]),
            Some("$default"),
            "route response {id} must have RouteResponseKey $default"
        );
        let route_id = template.single_reference(
            get(response, &["Properties", "RouteId"]),
            WS_ROUTE,
            &format!("{id}.Properties.RouteId"),
        );
        responded.entry(route_id).or_default().push(id);
    }

    let routes = template.ws_routes();
    for route in WS_ROUTES {
        let route_id =
            routes.get(route.route_key).unwrap_or_else(|| panic!("the template has no route {:?}", route.route_key));
        let responses = responded.get(route_id).map(Vec::as_slice).unwrap_or_default();
        let selection =
            template.resource(route_id).and_then(|r| str_at(r, &["Properties", "RouteResponseSelectionExpression"]));
        if route.two_way {
            assert_eq!(
                responses.len(),
                1,
                "two-way route {:?} needs exactly one route response, has {responses:?}",
                route.route_key
            );
            assert_eq!(
                selection,
                Some("$default"),
                "two-way route {:?} needs RouteResponseSelectionExpression: $default",
                route.route_key
            );
        } else {
            assert!(
                responses.is_empty(),
                "one-way route {:?} must not have route responses {responses:?}",
                route.route_key
            );
            assert_eq!(selection, None, "one-way route {:?} must not select a route response", route.route_key);
        }
    }
}

/// `$connect` (and only it) runs the REQUEST authorizer backed by the authorizer function with the `token` query parameter.
#[test]
fn connect_is_guarded_by_the_lambda_authorizer_and_no_other_websocket_route_is() {
    let template = Template::load();
    for (key, route_id) in template.ws_routes() {
        let route = template.resource(&route_id).unwrap_or_else(|| panic!("route {route_id} does not exist"));
        let authorization = str_at(route, &["Properties", "AuthorizationType"]);
        if key != "$connect" {
            // API Gateway only runs WebSocket authorizers on $connect.
            assert!(
                matches!(authorization, None | Some("NONE")),
                "route {key:?} ({route_id}) must not declare an authorizer; only $connect is authorized"
            );
            continue;
        }
        assert_eq!(authorization, Some("CUSTOM"), "$connect ({route_id}) must use AuthorizationType CUSTOM");
        let authorizer_id = template.single_reference(
            get(route, &["Properties", "AuthorizerId"]),
            WS_AUTHORIZER,
            &format!("{route_id}.Properties.AuthorizerId"),
        );
        let authorizer =
            template.resource(&authorizer_id).unwrap_or_else(|| panic!("authorizer {authorizer_id} does not exist"));
        assert_eq!(
            str_at(authorizer, &["Properties", "AuthorizerType"]),
            Some("REQUEST"),
            "{authorizer_id} must be a REQUEST authorizer"
        );
        let function_id = template.single_reference(
            get(authorizer, &["Properties", "AuthorizerUri"]),
            SERVERLESS_FUNCTION,
            &format!("{authorizer_id}.Properties.AuthorizerUri"),
        );
        assert_eq!(
            function_id,
            Function::Authorizer.logical_id(),
            "{authorizer_id} must invoke the authorizer function"
        );
        let sources = get(authorizer, &["Properties", "IdentitySource"]);
        assert!(
            sources
                .and_then(Value::as_sequence)
                .is_some_and(|s| s.iter().any(|v| v.as_str() == Some("route.request.querystring.token"))),
            "{authorizer_id} must take the token from the query string (route.request.querystring.token), has {sources:?}"
        );
    }
}

/// The HTTP API events are exactly HTTP_ROUTES (method case-insensitive), each on its function.
/// chat-local's own paths (web client, dev sign-in, OpenAPI document) are not in HTTP_ROUTES and
/// so not compared here; the next test keeps them out of the template.
#[test]
fn the_http_api_routes_in_the_template_are_exactly_the_route_table_routes_on_the_right_functions() {
    let template = Template::load();
    let mut in_template = BTreeSet::new();
    for (function_id, function) in template.of_type(SERVERLESS_FUNCTION) {
        let Some(Value::Mapping(events)) = get(function, &["Properties", "Events"]) else {
            continue;
        };
        for (name, event) in events {
            if str_at(event, &["Type"]) != Some("HttpApi") {
                continue;
            }
            let method = str_at(event, &["Properties", "Method"])
                .unwrap_or_else(|| panic!("{function_id} event {name:?} needs a literal Properties.Method"));
            let path = str_at(event, &["Properties", "Path"])
                .unwrap_or_else(|| panic!("{function_id} event {name:?} needs a literal Properties.Path"));
            in_template.insert((method.to_ascii_uppercase(), path.to_owned(), function_id.to_owned()));
        }
    }
    let in_table: BTreeSet<(String, String, String)> = HTTP_ROUTES
        .iter()
        .map(|r| (r.method.to_ascii_uppercase(), r.path.to_owned(), r.function.logical_id().to_owned()))
        .collect();
    assert_eq!(
        in_template, in_table,
        "HTTP routes (method, path, function) differ (left: infra/template.yaml, right: chat_shared::routes::HTTP_ROUTES)"
    );
}

/// chat-local serves a few paths of its own beside the route table (the OpenAPI document, the
/// demo web client, and the dev sign-in that issues a token for any name): they are excluded
/// from the comparison above on purpose, and must never reach the deployed HTTP API.
#[test]
fn the_template_routes_none_of_chat_locals_own_paths() {
    let template = Template::load();
    let local_only = chat_local::local_only_http_paths();
    assert!(local_only.contains(&"/dev/token") && local_only.contains(&"/"), "{local_only:?}");
    for (function_id, function) in template.of_type(SERVERLESS_FUNCTION) {
        let Some(Value::Mapping(events)) = get(function, &["Properties", "Events"]) else {
            continue;
        };
        for event in events.values() {
            let Some(path) = str_at(event, &["Properties", "Path"]) else {
                continue;
            };
            assert!(
                !local_only.contains(&path) && !path.starts_with("/dev/") && !path.starts_with("/web/"),
                "{function_id} routes {path}, which only chat-local may serve"
            );
        }
    }
    for route in HTTP_ROUTES {
        assert!(!local_only.contains(&route.path), "{} is in the route table and chat-local-only", route.path);
    }
}

/// Every HTTP API event runs the Lambda authorizer in the format the authorizer function answers (2.0, simple responses).
#[test]
fn every_http_route_is_guarded_by_the_lambda_authorizer() {
    let template = Template::load();
    for (function_id, function) in template.of_type(SERVERLESS_FUNCTION) {
        let Some(Value::Mapping(events)) = get(function, &["Properties", "Events"]) else {
            continue;
        };
        for (name, event) in events {
            if str_at(event, &["Type"]) != Some("HttpApi") {
                continue;
            }
            let what = format!("{function_id} event {name:?}");
            let api_id = template.single_reference(
                get(event, &["Properties", "ApiId"]),
                SERVERLESS_HTTP_API,
                &format!("{what} Properties.ApiId"),
            );
            let api = template.resource(&api_id).unwrap_or_else(|| panic!("HTTP API {api_id} does not exist"));
            let authorizer_name = str_at(event, &["Properties", "Auth", "Authorizer"])
                .or_else(|| str_at(api, &["Properties", "Auth", "DefaultAuthorizer"]))
                .unwrap_or_else(|| panic!("{what} has no authorizer (set {api_id}.Auth.DefaultAuthorizer)"));
            assert_ne!(authorizer_name, "NONE", "{what} must not opt out of the authorizer");
            let authorizer = get(api, &["Properties", "Auth", "Authorizers", authorizer_name])
                .unwrap_or_else(|| panic!("{api_id} declares no authorizer {authorizer_name:?} (used by {what})"));
            let invoked = template.single_reference(
                get(authorizer, &["FunctionArn"]),
                SERVERLESS_FUNCTION,
                &format!("{api_id} authorizer {authorizer_name} FunctionArn"),
            );
            assert_eq!(
                invoked,
                Function::Authorizer.logical_id(),
                "{api_id} authorizer {authorizer_name} must invoke the authorizer function"
            );
            assert_eq!(
                scalar_text(get(authorizer, &["AuthorizerPayloadFormatVersion"])).as_deref(),
                Some("2.0"),
                "{api_id} authorizer {authorizer_name} must use payload format 2.0"
            );
            assert_eq!(
                get(authorizer, &["EnableSimpleResponses"]),
                Some(&Value::Bool(true)),
                "{api_id} authorizer {authorizer_name} must use simple responses"
            );
        }
    }
}

/// API Gateway may invoke every function a WebSocket route or authorizer points at.
#[test]
fn api_gateway_may_invoke_every_websocket_function() {
    let template = Template::load();
    let permitted: BTreeSet<String> = template
        .of_type(LAMBDA_PERMISSION)
        .filter(|(_, p)| str_at(p, &["Properties", "Principal"]) == Some("apigateway.amazonaws.com"))
        .flat_map(|(_, p)| {
            template.referenced(get(p, &["Properties", "FunctionName"]).unwrap_or(&Value::Null), SERVERLESS_FUNCTION)
        })
        .collect();
    let needed = WS_ROUTES.iter().map(|r| r.function).chain([Function::Authorizer]);
    for function in needed {
        assert!(
            permitted.contains(function.logical_id()),
            "no AWS::Lambda::Permission lets apigateway.amazonaws.com invoke {}",
            function.logical_id()
        );
    }
}

/// The WebSocket deployment is created after every route and route response it must include.
#[test]
fn the_websocket_deployment_waits_for_every_route_and_route_response() {
    let template = Template::load();
    let deployments: Vec<(&str, &Value)> = template.of_type(WS_DEPLOYMENT).collect();
    let [(deployment_id, deployment)] = deployments.as_slice() else {
        panic!("expected exactly one {WS_DEPLOYMENT}, found {}", deployments.len());
    };
    let depends_on: BTreeSet<&str> = match deployment.get("DependsOn") {
        Some(Value::String(one)) => BTreeSet::from([one.as_str()]),
        Some(Value::Sequence(many)) => many.iter().filter_map(Value::as_str).collect(),
        _ => BTreeSet::new(),
    };
    let missing: Vec<&str> = template
        .of_type(WS_ROUTE)
        .chain(template.of_type(WS_ROUTE_RESPONSE))
        .map(|(id, _)| id)
        .filter(|id| !depends_on.contains(id))
        .collect();
    assert!(missing.is_empty(), "{deployment_id}.DependsOn misses {missing:?}");
}

/// The WebSocket API resource references no function, so functions can reference the API without a cycle.
#[test]
fn the_websocket_api_references_no_function() {
    let template = Template::load();
    for (api_id, api) in template.of_type(WS_API) {
        let functions = template.referenced(api, SERVERLESS_FUNCTION);
        assert!(functions.is_empty(), "{api_id} references {functions:?}; let integrations and permissions do that");
    }
}

/// Each WebSocket route is covered by the `SourceArn` of a permission on its own function
/// (one permission may cover several routes with a wildcard), so no route fails at runtime
/// with a 500 because API Gateway may not invoke its function for that route.
#[test]
fn every_websocket_route_is_covered_by_a_permission_source_arn_of_its_function() {
    let template = Template::load();
    let api_ids: BTreeSet<&str> = template.of_type(WS_API).map(|(id, _)| id).collect();
    // (function logical id, SourceArn pattern after `${Api}/`, `${...}` turned into `*`)
    let mut patterns: Vec<(String, String, &str)> = Vec::new();
    for (permission_id, permission) in template.of_type(LAMBDA_PERMISSION) {
        if str_at(permission, &["Properties", "Principal"]) != Some("apigateway.amazonaws.com") {
            continue;
        }
        let Some(function_id) = template
            .referenced(get(permission, &["Properties", "FunctionName"]).unwrap_or(&Value::Null), SERVERLESS_FUNCTION)
            .into_iter()
            .next()
        else {
            continue;
        };
        let source_arn = match get(permission, &["Properties", "SourceArn", "Fn::Sub"]) {
            Some(Value::String(text)) => text.as_str(),
            Some(Value::Sequence(parts)) => parts.first().and_then(Value::as_str).unwrap_or_default(),
            _ => continue,
        };
        for api_id in &api_ids {
            if let Some((_, rest)) = source_arn.split_once(&format!("${{{api_id}}}/")) {
                patterns.push((function_id.clone(), wildcard_sub_variables(rest), permission_id));
            }
        }
    }

    let routes = template.ws_routes();
    for route in WS_ROUTES {
        let route_id =
            routes.get(route.route_key).unwrap_or_else(|| panic!("the template has no route {:?}", route.route_key));
        let function_id = template.ws_route_function(route_id);
        // What API Gateway passes as the source ARN's resource part: `{stage}/{route key}`.
        let invoked_as = format!("some-stage/{}", route.route_key);
        let covered = patterns.iter().any(|(f, pattern, _)| *f == function_id && glob_matches(pattern, &invoked_as));
        let candidates: Vec<&str> = patterns.iter().filter(|(f, ..)| *f == function_id).map(|(.., id)| *id).collect();
        assert!(
            covered,
            "no apigateway.amazonaws.com permission on {function_id} has a SourceArn covering route {:?} \
             (its permissions: {candidates:?})",
            route.route_key
        );
    }
}

/// `${Name}` (a Sub variable such as the stage) can be anything at deploy time: make it `*`.
fn wildcard_sub_variables(text: &str) -> String {
    let mut out = String::new();
    let mut rest = text;
    while let Some(start) = rest.find("${") {
        out.push_str(&rest[..start]);
        match rest[start..].find('}') {
            Some(end) => {
                out.push('*');
                rest = &rest[start + end + 1..];
            }
            None => {
                rest = &rest[start..];
                break;
            }
        }
    }
    out.push_str(rest);
    out
}

/// IAM `ArnLike` matching: `*` matches any run of characters (`/` included), `?` any one.
fn glob_matches(pattern: &str, text: &str) -> bool {
    let (p, t): (Vec<char>, Vec<char>) = (pattern.chars().collect(), text.chars().collect());
    let (mut pi, mut ti) = (0, 0);
    let mut backtrack: Option<(usize, usize)> = None;
    while ti < t.len() {
        if pi < p.len() && (p[pi] == '?' || p[pi] == t[ti]) {
            pi += 1;
            ti += 1;
        } else if pi < p.len() && p[pi] == '*' {
            backtrack = Some((pi, ti));
            pi += 1;
        } else if let Some((star, matched)) = backtrack {
            pi = star + 1;
            ti = matched + 1;
            backtrack = Some((star, matched + 1));
        } else {
            return false;
        }
    }
    p[pi..].iter().all(|&c| c == '*')
}

#[test]
fn glob_matching_follows_arn_like() {
    assert!(glob_matches("*/message:send", "prod/message:send"));
    assert!(glob_matches("*/typing:*", "prod/typing:stop"));
    assert!(glob_matches("*/*", "prod/$default"));
    assert!(glob_matches("*", "prod/ping"));
    assert!(!glob_matches("*/$default", "prod/ping"));
    assert!(!glob_matches("*/typing:*", "prod/message:send"));
    assert!(!glob_matches("prod/ping", "dev/ping"));
    assert_eq!(wildcard_sub_variables("${StageName}/ping"), "*/ping");
}

/// Every function is watched: it is in exactly one alarm on `Errors` and one on `Throttles`.
#[test]
fn every_function_is_in_one_errors_alarm_and_one_throttles_alarm() {
    let template = Template::load();
    let mut watched: BTreeMap<(String, String), usize> = BTreeMap::new();
    for (id, alarm) in template.of_type("AWS::CloudWatch::Alarm") {
        for query in get(alarm, &["Properties", "Metrics"]).and_then(Value::as_sequence).into_iter().flatten() {
            let Some(metric) = get(query, &["MetricStat", "Metric"]) else { continue };
            if str_at(metric, &["Namespace"]) != Some("AWS/Lambda") {
                continue;
            }
            let name = str_at(metric, &["MetricName"]).unwrap_or_else(|| panic!("{id}: metric without a name"));
            for function in template.referenced(metric, SERVERLESS_FUNCTION) {
                *watched.entry((function, name.to_owned())).or_default() += 1;
            }
        }
    }
    for function in Function::ALL {
        for metric in ["Errors", "Throttles"] {
            let count = watched.get(&(function.logical_id().to_owned(), metric.to_owned())).copied().unwrap_or(0);
            assert_eq!(count, 1, "{} is in {count} alarms on {metric}", function.logical_id());
        }
    }
}
