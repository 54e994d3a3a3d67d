//! The route table: which function serves which API Gateway route.
//!
//! This is the one source of truth shared by `chat-local` (which dispatches on it) and
//! `infra/template.yaml` (which a test in `tests/` checks against it).

/// One deployable Lambda function. Each has its own package under `functions/`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Function {
    Authorizer,
    WsConnect,
    WsDisconnect,
    WsDefault,
    WsSendMessage,
    WsTyping,
    WsMarkRead,
    WsSync,
    HttpCreateConversation,
    HttpListConversations,
    HttpGetMessages,
    HttpMarkRead,
    HttpSearchMessages,
    /// Applies the database migrations; invoked after each deploy, behind no route.
    Migrate,
}

impl Function {
    /// Every function, in a stable order.
    pub const ALL: [Function; 14] = [
        Function::Authorizer,
        Function::WsConnect,
        Function::WsDisconnect,
        Function::WsDefault,
        Function::WsSendMessage,
        Function::WsTyping,
        Function::WsMarkRead,
        Function::WsSync,
        Function::HttpCreateConversation,
        Function::HttpListConversations,
        Function::HttpGetMessages,
        Function::HttpMarkRead,
        Function::HttpSearchMessages,
        Function::Migrate,
    ];

    /// The cargo package (and binary) name under `functions/`.
    pub fn package(self) -> &'static str {
        match self {
            Function::Authorizer => "authorizer",
            Function::WsConnect => "ws-connect",
            Function::WsDisconnect => "ws-disconnect",
            Function::WsDefault => "ws-default",
            Function::WsSendMessage => "ws-send-message",
            Function::WsTyping => "ws-typing",
            Function::WsMarkRead => "ws-mark-read",
            Function::WsSync => "ws-sync",
            Function::HttpCreateConversation => "http-create-conversation",
            Function::HttpListConversations => "http-list-conversations",
            Function::HttpGetMessages => "http-get-messages",
            Function::HttpMarkRead => "http-mark-read",
            Function::HttpSearchMessages => "http-search-messages",
            Function::Migrate => "migrate",
        }
    }

    /// The logical id of the function's `AWS::Serverless::Function` in `infra/template.yaml`.
    pub fn logical_id(self) -> &'static str {
        match self {
            Function::Authorizer => "AuthorizerFunction",
            Function::WsConnect => "WsConnectFunction",
            Function::WsDisconnect => "WsDisconnectFunction",
            Function::WsDefault => "WsDefaultFunction",
            Function::WsSendMessage => "WsSendMessageFunction",
            Function::WsTyping => "WsTypingFunction",
            Function::WsMarkRead => "WsMarkReadFunction",
            Function::WsSync => "WsSyncFunction",
            Function::HttpCreateConversation => "HttpCreateConversationFunction",
            Function::HttpListConversations => "HttpListConversationsFunction",
            Function::HttpGetMessages => "HttpGetMessagesFunction",
            Function::HttpMarkRead => "HttpMarkReadFunction",
            Function::HttpSearchMessages => "HttpSearchMessagesFunction",
            Function::Migrate => "MigrateFunction",
        }
    }

    /// Looks a function up by its package name.
    pub fn from_package(name: &str) -> Option<Function> {
        Function::ALL.into_iter().find(|f| f.package() == name)
    }
}

/// A WebSocket API route (`$request.body.action` selects it).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct WsRoute {
    pub route_key: &'static str,
    pub function: Function,
    /// Two-way route: the integration's response body is sent back to the caller
    /// (a route response with key `$default` exists).
    pub two_way: bool,
}

/// An HTTP API route (payload format 2.0). `path` uses API Gateway's `{param}` syntax.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct HttpRoute {
    pub method: &'static str,
    pub path: &'static str,
    pub function: Function,
}

/// WebSocket routes. `$connect` is guarded by the authorizer.
pub const WS_ROUTES: &[WsRoute] = &[
    WsRoute { route_key: "$connect", function: Function::WsConnect, two_way: false },
    WsRoute { route_key: "$disconnect", function: Function::WsDisconnect, two_way: false },
    WsRoute { route_key: "$default", function: Function::WsDefault, two_way: true },
    WsRoute { route_key: "message:send", function: Function::WsSendMessage, two_way: true },
    // Typing answers only on error (a success has no body, so nothing is sent): typing is the
    // most frequent frame, and every frame API Gateway sends is billed.
    WsRoute { route_key: "typing:start", function: Function::WsTyping, two_way: true },
    WsRoute { route_key: "typing:stop", function: Function::WsTyping, two_way: true },
    WsRoute { route_key: "message:mark_read", function: Function::WsMarkRead, two_way: true },
    WsRoute { route_key: "conversation:sync", function: Function::WsSync, two_way: true },
    // Keep-alive (API Gateway closes connections idle for 10 minutes); answered by $default's function.
    WsRoute { route_key: "ping", function: Function::WsDefault, two_way: true },
];

/// HTTP API routes; every one is guarded by the authorizer.
pub const HTTP_ROUTES: &[HttpRoute] = &[
    HttpRoute { method: "POST", path: "/conversations", function: Function::HttpCreateConversation },
    HttpRoute { method: "GET", path: "/conversations", function: Function::HttpListConversations },
    HttpRoute { method: "GET", path: "/conversations/{conversationId}/messages", function: Function::HttpGetMessages },
    HttpRoute { method: "POST", path: "/conversations/{conversationId}/read", function: Function::HttpMarkRead },
    HttpRoute { method: "GET", path: "/messages/search", function: Function::HttpSearchMessages },
];

/// The WebSocket route for a route key, falling back to `$default` as API Gateway does.
pub fn ws_route(route_key: &str) -> &'static WsRoute {
    WS_ROUTES
        .iter()
        .find(|r| r.route_key == route_key && !r.route_key.starts_with('$'))
        .unwrap_or_else(|| ws_route_exact("$default"))
}

/// The WebSocket route with exactly this key (`$connect`, `$disconnect`, `$default`, ...).
///
/// # Panics
/// If the key is not in [`WS_ROUTES`]; callers pass the fixed `$` keys.
pub fn ws_route_exact(route_key: &str) -> &'static WsRoute {
    WS_ROUTES
        .iter()
        .find(|r| r.route_key == route_key)
        .unwrap_or_else(|| panic!("route {route_key} is not in WS_ROUTES"))
}

/// Matches a request against [`HTTP_ROUTES`]; returns the route and the path parameters.
pub fn match_http(method: &str, path: &str) -> Option<(&'static HttpRoute, Vec<(String, String)>)> {
    let segments: Vec<&str> = path.trim_end_matches('/').split('/').collect();
    HTTP_ROUTES.iter().find_map(|route| {
        if !route.method.eq_ignore_ascii_case(method) {
            return None;
        }
        let pattern: Vec<&str> = route.path.split('/').collect();
        if pattern.len() != segments.len() {
            return None;
        }
        let mut params = Vec::new();
        for (p, s) in pattern.iter().zip(&segments) {
            match p.strip_prefix('{').and_then(|p| p.strip_suffix('}')) {
                Some(name) if !s.is_empty() => params.push((name.to_owned(), (*s).to_owned())),
                Some(_) => return None,
                None if p == s => {}
                None => return None,
            }
        }
        Some((route, params))
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn unknown_actions_fall_back_to_default() {
        assert_eq!(ws_route("nope").function, Function::WsDefault);
        assert_eq!(ws_route("$connect").function, Function::WsDefault);
        assert_eq!(ws_route("message:send").function, Function::WsSendMessage);
    }

    #[test]
    fn http_paths_match_with_parameters() {
        let (route, params) = match_http("post", "/conversations").unwrap();
        assert_eq!(route.function, Function::HttpCreateConversation);
        assert!(params.is_empty());
        assert_eq!(match_http("GET", "/conversations").unwrap().0.function, Function::HttpListConversations);
        let (route, params) = match_http("GET", "/conversations/c1/messages").unwrap();
        assert_eq!(route.function, Function::HttpGetMessages);
        assert_eq!(params, vec![("conversationId".to_owned(), "c1".to_owned())]);
        assert!(match_http("POST", "/conversations/x").is_none());
        assert!(match_http("GET", "/conversations//messages").is_none());
    }

    #[test]
    fn every_function_has_a_unique_package() {
        for f in Function::ALL {
            assert_eq!(Function::from_package(f.package()), Some(f));
        }
    }
}
