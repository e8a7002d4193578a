//! `recon healthcheck`: asks a running service on this host for its liveness over plain
//! HTTP/1.1 and exits 0 on 200, 1 otherwise, so the container image needs no curl.

use std::io::{Read, Write};
use std::net::{IpAddr, SocketAddr, TcpStream};
use std::process::ExitCode;
use std::time::Duration;

use crate::cli::Settings;
use crate::config::DEFAULT_PORT;

/// Runs the probe against HOST/PORT from the same settings the server reads.
pub fn run(settings: &Settings, timeout: Duration) -> ExitCode {
    let port = match settings
        .port
        .as_deref()
        .map(str::trim)
        .filter(|p| !p.is_empty())
    {
        None => DEFAULT_PORT,
        Some(text) => match text.parse::<u16>() {
            Ok(port) => port,
            Err(_) => {
                eprintln!(
                    "recon healthcheck: PORT={text:?} is not a port number; set PORT to the port the service listens on"
                );
                return ExitCode::from(2);
            }
        },
    };
    // A server bound to every interface is reached through loopback.
    let host = match settings
        .host
        .as_deref()
        .and_then(|h| h.trim().parse::<IpAddr>().ok())
    {
        Some(ip) if !ip.is_unspecified() => ip,
        Some(IpAddr::V6(_)) => IpAddr::from([0u16, 0, 0, 0, 0, 0, 0, 1]),
        _ => IpAddr::from([127, 0, 0, 1]),
    };
    let address = SocketAddr::new(host, port);
    match probe(address, timeout) {
        Ok(200) => {
            // The probe's answer is its output: this is a command, not the server.
            #[allow(clippy::print_stdout)]
            {
                println!("recon healthcheck: live ({address})");
            }
            ExitCode::SUCCESS
        }
        Ok(status) => {
            eprintln!(
                "recon healthcheck: {address}{} answered {status}",
                recon_api::LIVE_PATH
            );
            ExitCode::FAILURE
        }
        Err(error) => {
            eprintln!(
                "recon healthcheck: cannot reach {address}: {error}; is recon running with this HOST and PORT?"
            );
            ExitCode::FAILURE
        }
    }
}

fn probe(address: SocketAddr, timeout: Duration) -> std::io::Result<u16> {
    let mut stream = TcpStream::connect_timeout(&address, timeout)?;
    stream.set_read_timeout(Some(timeout))?;
    stream.set_write_timeout(Some(timeout))?;
    write!(
        stream,
        "GET {} HTTP/1.1\r\nHost: localhost\r\nConnection: close\r\n\r\n",
        recon_api::LIVE_PATH
    )?;
    let mut head = [0u8; 64];
    let read = stream.read(&mut head)?;
    let line = String::from_utf8_lossy(&head[..read]);
    line.split_whitespace()
        .nth(1)
        .and_then(|status| status.parse().ok())
        .ok_or_else(|| std::io::Error::new(std::io::ErrorKind::InvalidData, "not an HTTP response"))
}
