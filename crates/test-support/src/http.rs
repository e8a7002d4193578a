//! A minimal blocking HTTP/1.1 client for tests of the real binary: one request per
//! connection, status and body back.

use std::io::{Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::time::Duration;

/// A response: status code and body text.
#[derive(Debug, Clone)]
pub struct Response {
    /// Status code.
    pub status: u16,
    /// Header block, as text.
    pub head: String,
    /// Body, as text.
    pub body: String,
}

/// `GET path` with a 10 s deadline.
pub fn get(address: SocketAddr, path: &str) -> std::io::Result<Response> {
    request(address, "GET", path, Duration::from_secs(10))
}

/// One request with `timeout` for connect, write and read.
pub fn request(
    address: SocketAddr,
    method: &str,
    path: &str,
    timeout: Duration,
) -> std::io::Result<Response> {
    send(address, method, path, &[], None, timeout)
}

/// `POST path` with a JSON body and extra headers, 10 s deadline.
pub fn post_json(
    address: SocketAddr,
    path: &str,
    headers: &[(&str, &str)],
    json: &str,
) -> std::io::Result<Response> {
    send(
        address,
        "POST",
        path,
        headers,
        Some(json),
        Duration::from_secs(10),
    )
}

/// `GET path` with extra headers, 10 s deadline.
pub fn get_with(
    address: SocketAddr,
    path: &str,
    headers: &[(&str, &str)],
) -> std::io::Result<Response> {
    send(address, "GET", path, headers, None, Duration::from_secs(10))
}

/// One request with headers and an optional JSON body.
pub fn send(
    address: SocketAddr,
    method: &str,
    path: &str,
    headers: &[(&str, &str)],
    json: Option<&str>,
    timeout: Duration,
) -> std::io::Result<Response> {
    let mut stream = TcpStream::connect_timeout(&address, timeout)?;
    stream.set_read_timeout(Some(timeout))?;
    stream.set_write_timeout(Some(timeout))?;
    let mut head = format!("{method} {path} HTTP/1.1\r\nHost: localhost\r\nConnection: close\r\n");
    for (name, value) in headers {
        head.push_str(&format!("{name}: {value}\r\n"));
    }
    if let Some(json) = json {
        head.push_str(&format!(
            "Content-Type: application/json\r\nContent-Length: {}\r\n",
            json.len()
        ));
    }
    head.push_str("\r\n");
    stream.write_all(head.as_bytes())?;
    if let Some(json) = json {
        stream.write_all(json.as_bytes())?;
    }
    let mut raw = Vec::new();
    stream.read_to_end(&mut raw)?;
    let text = String::from_utf8_lossy(&raw).into_owned();
    let (head, body) = text.split_once("\r\n\r\n").unwrap_or((&text, ""));
    let status = head
        .split_whitespace()
        .nth(1)
        .and_then(|code| code.parse().ok())
        .ok_or_else(|| {
            std::io::Error::new(
                std::io::ErrorKind::InvalidData,
                format!("not HTTP: {head:?}"),
            )
        })?;
    let body = if head
        .to_ascii_lowercase()
        .contains("transfer-encoding: chunked")
    {
        dechunk(body)
    } else {
        body.to_owned()
    };
    Ok(Response {
        status,
        head: head.to_owned(),
        body,
    })
}

fn dechunk(mut body: &str) -> String {
    let mut out = String::new();
    while let Some((size, rest)) = body.split_once("\r\n") {
        let Ok(size) = usize::from_str_radix(size.trim(), 16) else {
            break;
        };
        if size == 0 || rest.len() < size {
            break;
        }
        out.push_str(&rest[..size]);
        body = rest[size..].trim_start_matches("\r\n");
    }
    out
}
