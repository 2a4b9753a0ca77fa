//! The CGI convention between server and guest, as WAGI uses it.
//!
//! In: the request as environment variables (`REQUEST_METHOD`,
//! `PATH_INFO`, `QUERY_STRING`, `CONTENT_TYPE`, `CONTENT_LENGTH`, every
//! header as `HTTP_NAME`, ...) and the body on stdin.
//!
//! Out: on stdout, an optional header block (`Status: 404 Not Found`,
//! `Content-Type: ...`, `Location: ...`, any other header), a blank line,
//! then the body. Output that does not start with a header block is all
//! body, served as `text/plain`.

use bytes::Bytes;
use hyper::header::{HeaderName, HeaderValue, CONTENT_TYPE, LOCATION};
use hyper::{HeaderMap, Method, StatusCode, Uri, Version};
use std::net::SocketAddr;

/// What the environment of one request is built from.
pub struct RequestInfo<'a> {
    /// The request method.
    pub method: &'a Method,
    /// The request target.
    pub uri: &'a Uri,
    /// The HTTP version.
    pub version: Version,
    /// Request headers.
    pub headers: &'a HeaderMap,
    /// The route that matched, as configured (`/hello`, `/static/...`).
    pub route: &'a str,
    /// The part of the route before any `/...`: the CGI `SCRIPT_NAME`.
    pub script_name: &'a str,
    /// Body length in bytes.
    pub content_length: u64,
    /// The client's address.
    pub peer: SocketAddr,
    /// The address the connection came in on.
    pub local: SocketAddr,
}

fn lossy(v: &HeaderValue) -> String {
    match v.to_str() {
        Ok(s) => s.to_owned(),
        Err(_) => String::from_utf8_lossy(v.as_bytes()).into_owned(),
    }
}

/// The CGI variables for a request: the guest's whole environment.
///
/// `SCRIPT_NAME` is the route (without a trailing `/...`) and `PATH_INFO`
/// the rest of the path below it, so for route `/static/...` a request for
/// `/static/css/a.css` has `PATH_INFO=/css/a.css`; an exact route has an
/// empty `PATH_INFO`. `X_FULL_URL`, `X_RAW_PATH_INFO` (undecoded path) and
/// `X_MATCHED_ROUTE` are as in WAGI. Header values that are not valid
/// UTF-8 are passed lossily; repeated headers are joined with `", "`.
pub fn request_env(r: &RequestInfo<'_>) -> Vec<(String, String)> {
    let path = r.uri.path();
    let raw_path_info = path.strip_prefix(r.script_name).unwrap_or("");
    let query = r.uri.query().unwrap_or("");
    let host = r
        .headers
        .get(hyper::header::HOST)
        .map(lossy)
        .unwrap_or_else(|| r.local.to_string());
    let protocol = match r.version {
        Version::HTTP_10 => "HTTP/1.0",
        Version::HTTP_2 => "HTTP/2.0",
        _ => "HTTP/1.1",
    };
    let request_uri = r
        .uri
        .path_and_query()
        .map_or(path, |pq| pq.as_str())
        .to_string();
    let mut env: Vec<(String, String)> = Vec::with_capacity(20 + r.headers.keys_len());
    let mut set = |k: &str, v: String| env.push((k.to_string(), v));
    set("GATEWAY_INTERFACE", "CGI/1.1".into());
    set(
        "SERVER_SOFTWARE",
        concat!("lucet-serve/", env!("CARGO_PKG_VERSION")).into(),
    );
    set("SERVER_PROTOCOL", protocol.into());
    set("SERVER_NAME", r.local.ip().to_string());
    set("SERVER_PORT", r.local.port().to_string());
    set("REMOTE_ADDR", r.peer.ip().to_string());
    set("REMOTE_PORT", r.peer.port().to_string());
    set("REQUEST_METHOD", r.method.as_str().into());
    set("REQUEST_URI", request_uri.clone());
    set("SCRIPT_NAME", r.script_name.into());
    set("PATH_INFO", percent_decode(raw_path_info));
    set("X_RAW_PATH_INFO", raw_path_info.into());
    set("QUERY_STRING", query.into());
    set("X_MATCHED_ROUTE", r.route.into());
    set("X_FULL_URL", format!("http://{host}{request_uri}"));
    set("CONTENT_LENGTH", r.content_length.to_string());
    if let Some(t) = r.headers.get(CONTENT_TYPE) {
        set("CONTENT_TYPE", lossy(t));
    }
    for name in r.headers.keys() {
        if name == CONTENT_TYPE || name == hyper::header::CONTENT_LENGTH {
            continue;
        }
        let mut key = String::with_capacity(5 + name.as_str().len());
        key.push_str("HTTP_");
        key.extend(name.as_str().chars().map(|c| {
            if c == '-' {
                '_'
            } else {
                c.to_ascii_uppercase()
            }
        }));
        let values: Vec<String> = r.headers.get_all(name).iter().map(lossy).collect();
        set(&key, values.join(", "));
    }
    env
}

/// Decode `%XX` escapes; a NUL or an invalid escape is left encoded.
fn percent_decode(s: &str) -> String {
    if !s.contains('%') {
        return s.to_string();
    }
    let b = s.as_bytes();
    let mut out = Vec::with_capacity(b.len());
    let mut i = 0;
    while i < b.len() {
        if b[i] == b'%' && i + 2 < b.len() {
            let hex = std::str::from_utf8(&b[i + 1..i + 3])
                .ok()
                .and_then(|h| u8::from_str_radix(h, 16).ok());
            if let Some(v) = hex.filter(|v| *v != 0) {
                out.push(v);
                i += 3;
                continue;
            }
        }
        out.push(b[i]);
        i += 1;
    }
    String::from_utf8_lossy(&out).into_owned()
}

/// A response as the guest wrote it.
#[derive(Debug)]
pub struct CgiResponse {
    /// From `Status:`, else 302 with a `Location:`, else 200.
    pub status: StatusCode,
    /// Every header but `Status:` and hop-by-hop ones, in order.
    pub headers: Vec<(HeaderName, HeaderValue)>,
    /// Everything after the blank line.
    pub body: Bytes,
}

/// Why a guest's output is not a response.
#[derive(Debug, PartialEq, Eq)]
pub struct OutputError(pub String);

impl std::fmt::Display for OutputError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.0)
    }
}

/// Whether `line` has the shape `Name: value` with a token for a name.
fn header_like(line: &[u8]) -> Option<(&[u8], &[u8])> {
    let colon = line.iter().position(|&c| c == b':')?;
    let (name, value) = (&line[..colon], &line[colon + 1..]);
    let token = |c: &u8| c.is_ascii_alphanumeric() || b"!#$%&'*+-.^_`|~".contains(c);
    if name.is_empty() || !name.iter().all(token) {
        return None;
    }
    Some((name, value.trim_ascii()))
}

const HOP_BY_HOP: [&str; 8] = [
    "connection",
    "keep-alive",
    "transfer-encoding",
    "content-length",
    "upgrade",
    "trailer",
    "te",
    "proxy-connection",
];

/// Split a guest's stdout into status, headers and body.
///
/// The output starts with a header block when every line before the first
/// empty line (`\n` or `\r\n` endings) has the shape `Name: value`;
/// otherwise all of it is the body. Without a `Content-Type` the response
/// is `text/plain; charset=utf-8`.
pub fn parse_output(out: Vec<u8>) -> Result<CgiResponse, OutputError> {
    let mut headers = Vec::new();
    let mut status = None;
    let mut pos = 0;
    let mut body_start = None;
    while let Some(nl) = out[pos..].iter().position(|&c| c == b'\n') {
        let line = &out[pos..pos + nl];
        let line = line.strip_suffix(b"\r").unwrap_or(line);
        let next = pos + nl + 1;
        if line.is_empty() {
            body_start = Some(next);
            break;
        }
        let Some((name, value)) = header_like(line) else {
            break;
        };
        if name.eq_ignore_ascii_case(b"status") {
            let text = String::from_utf8_lossy(value);
            let code = text.split_whitespace().next().unwrap_or("");
            let s = code
                .parse::<u16>()
                .ok()
                .and_then(|c| StatusCode::from_u16(c).ok())
                .filter(|s| (200..600).contains(&s.as_u16()))
                .ok_or_else(|| OutputError(format!("invalid Status header {text:?}")))?;
            status = Some(s);
        } else {
            let name = HeaderName::from_bytes(name)
                .map_err(|_| OutputError("invalid header name".into()))?;
            let value = HeaderValue::from_bytes(value)
                .map_err(|_| OutputError(format!("invalid value for header {}", name.as_str())))?;
            if !HOP_BY_HOP.contains(&name.as_str()) {
                headers.push((name, value));
            }
        }
        pos = next;
    }
    let Some(body_start) = body_start else {
        // No header block: the whole output is the body.
        return Ok(CgiResponse {
            status: StatusCode::OK,
            headers: vec![(
                CONTENT_TYPE,
                HeaderValue::from_static("text/plain; charset=utf-8"),
            )],
            body: Bytes::from(out),
        });
    };
    let status = status.unwrap_or(if headers.iter().any(|(n, _)| n == LOCATION) {
        StatusCode::FOUND
    } else {
        StatusCode::OK
    });
    if !headers.iter().any(|(n, _)| n == CONTENT_TYPE) {
        headers.push((
            CONTENT_TYPE,
            HeaderValue::from_static("text/plain; charset=utf-8"),
        ));
    }
    let mut body = Bytes::from(out);
    let body = body.split_off(body_start);
    Ok(CgiResponse {
        status,
        headers,
        body,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(s: &str) -> CgiResponse {
        parse_output(s.as_bytes().to_vec()).unwrap()
    }

    fn header<'a>(r: &'a CgiResponse, name: &str) -> Option<&'a str> {
        r.headers
            .iter()
            .find(|(n, _)| n.as_str() == name)
            .map(|(_, v)| v.to_str().unwrap())
    }

    #[test]
    fn header_block_and_body() {
        let r = parse("Content-Type: text/html\nX-A:  b \n\n<p>hi</p>\n\nmore");
        assert_eq!(r.status, StatusCode::OK);
        assert_eq!(header(&r, "content-type"), Some("text/html"));
        assert_eq!(header(&r, "x-a"), Some("b"));
        assert_eq!(r.body, "<p>hi</p>\n\nmore");
    }

    #[test]
    fn crlf_status_and_location() {
        let r = parse("Status: 404 Not Found\r\nContent-Type: text/plain\r\n\r\nnope");
        assert_eq!(r.status, StatusCode::NOT_FOUND);
        assert_eq!(r.body, "nope");
        let r = parse("Location: /elsewhere\n\n");
        assert_eq!(r.status, StatusCode::FOUND);
        assert_eq!(
            header(&r, "content-type"),
            Some("text/plain; charset=utf-8")
        );
        let r = parse("status: 201\n\n");
        assert_eq!(r.status, StatusCode::CREATED);
    }

    #[test]
    fn output_without_headers_is_all_body() {
        for s in [
            "Hello, world!\n",
            "",
            "Key: value but no blank line\n",
            "a\n\nb",
        ] {
            let r = parse(s);
            assert_eq!(r.status, StatusCode::OK);
            assert_eq!(r.body, s);
            assert_eq!(
                header(&r, "content-type"),
                Some("text/plain; charset=utf-8")
            );
        }
        // a line that is not a header ends the block: all body
        let r = parse("A: b\nnot a header\n\nbody");
        assert_eq!(r.body, "A: b\nnot a header\n\nbody");
    }

    #[test]
    fn hop_by_hop_headers_are_dropped_and_bad_ones_rejected() {
        let r = parse("Content-Length: 99\nConnection: close\nX-Ok: 1\n\nbody");
        assert_eq!(r.headers.len(), 2);
        assert_eq!(header(&r, "x-ok"), Some("1"));
        assert!(parse_output(b"Status: banana\n\n".to_vec()).is_err());
        assert!(parse_output(b"Status: 101\n\n".to_vec()).is_err());
        assert!(parse_output(b"Status: 999\n\n".to_vec()).is_err());
        assert!(parse_output(b"X-Bad: a\x01b\n\n".to_vec()).is_err());
    }

    #[test]
    fn percent_decoding() {
        assert_eq!(percent_decode("/a%20b/%C3%A9"), "/a b/é");
        assert_eq!(percent_decode("/100%"), "/100%");
        assert_eq!(percent_decode("/%zz%4"), "/%zz%4");
        assert_eq!(percent_decode("/%00x"), "/%00x");
    }

    #[test]
    fn environment() {
        let uri: Uri = "/static/css/a%20b.css?x=1&y".parse().unwrap();
        let mut headers = HeaderMap::new();
        headers.insert("host", HeaderValue::from_static("example.test:8080"));
        headers.insert("content-type", HeaderValue::from_static("text/css"));
        headers.insert("content-length", HeaderValue::from_static("3"));
        headers.append("x-multi", HeaderValue::from_static("a"));
        headers.append("x-multi", HeaderValue::from_static("b"));
        let env = request_env(&RequestInfo {
            method: &Method::POST,
            uri: &uri,
            version: Version::HTTP_11,
            headers: &headers,
            route: "/static/...",
            script_name: "/static",
            content_length: 3,
            peer: "127.0.0.2:5555".parse().unwrap(),
            local: "127.0.0.1:8080".parse().unwrap(),
        });
        let get = |k: &str| {
            env.iter()
                .find(|(n, _)| n == k)
                .map(|(_, v)| v.as_str())
                .unwrap_or_else(|| panic!("{k} missing"))
        };
        assert_eq!(get("REQUEST_METHOD"), "POST");
        assert_eq!(get("SCRIPT_NAME"), "/static");
        assert_eq!(get("PATH_INFO"), "/css/a b.css");
        assert_eq!(get("X_RAW_PATH_INFO"), "/css/a%20b.css");
        assert_eq!(get("QUERY_STRING"), "x=1&y");
        assert_eq!(get("CONTENT_TYPE"), "text/css");
        assert_eq!(get("CONTENT_LENGTH"), "3");
        assert_eq!(get("HTTP_HOST"), "example.test:8080");
        assert_eq!(get("HTTP_X_MULTI"), "a, b");
        assert_eq!(get("REMOTE_ADDR"), "127.0.0.2");
        assert_eq!(get("SERVER_PORT"), "8080");
        assert_eq!(get("REQUEST_URI"), "/static/css/a%20b.css?x=1&y");
        assert_eq!(
            get("X_FULL_URL"),
            "http://example.test:8080/static/css/a%20b.css?x=1&y"
        );
        assert!(!env.iter().any(|(k, _)| k == "HTTP_CONTENT_TYPE"));
        assert!(!env.iter().any(|(k, _)| k == "HTTP_CONTENT_LENGTH"));
    }
}
