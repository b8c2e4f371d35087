//! The steps below HTTP, done by hand so each failure is named: resolve the
//! host, connect, and the TLS handshake. Plus two probes that tell which
//! protocol a port really speaks.

use std::io;
use std::net::SocketAddr;
use std::time::Duration;

use rustls::pki_types::ServerName;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;
use tokio::time::timeout;

use super::diagnose::{self, Transport};
use super::tls::Trust;

pub const CONNECT_TIMEOUT: Duration = Duration::from_secs(10);

pub async fn resolve(host: &str, port: u16) -> io::Result<Vec<SocketAddr>> {
    let host = host.trim_start_matches('[').trim_end_matches(']');
    let addrs: Vec<SocketAddr> = tokio::net::lookup_host((host, port)).await?.collect();
    if addrs.is_empty() {
        return Err(io::Error::new(io::ErrorKind::NotFound, "no address"));
    }
    Ok(addrs)
}

/// Connects to the first address that accepts; else the last error.
pub async fn connect(
    addrs: &[SocketAddr],
) -> Result<(TcpStream, SocketAddr), (SocketAddr, io::Error)> {
    let mut last = None;
    for &a in addrs {
        match timeout(CONNECT_TIMEOUT, TcpStream::connect(a)).await {
            Ok(Ok(s)) => return Ok((s, a)),
            Ok(Err(e)) => last = Some((a, e)),
            Err(_) => {
                last = Some((
                    a,
                    io::Error::new(io::ErrorKind::TimedOut, "connect timed out"),
                ))
            }
        }
    }
    Err(last.expect("at least one address"))
}

/// A TLS handshake with the lab's trust; on success the protocol version.
pub async fn handshake(stream: TcpStream, host: &str, trust: &Trust) -> Result<String, Transport> {
    let host = host.trim_start_matches('[').trim_end_matches(']');
    let name = ServerName::try_from(host.to_string())
        .map_err(|e| Transport::Other(format!("{host} is not a valid TLS server name: {e}")))?;
    let connector = tokio_rustls::TlsConnector::from(trust.config.clone());
    match timeout(CONNECT_TIMEOUT, connector.connect(name, stream)).await {
        Err(_) => Err(Transport::Timeout),
        Ok(Err(e)) => Err(diagnose::classify(&e)),
        Ok(Ok(tls)) => {
            let (_, conn) = tls.get_ref();
            let version = conn
                .protocol_version()
                .map(|v| format!("{v:?}").replace("_", "."))
                .unwrap_or_default();
            Ok(version.replace("TLSv1.", "TLS 1."))
        }
    }
}

/// Does `addr` answer a plain HTTP request with an HTTP status line?
pub async fn speaks_http(addr: SocketAddr) -> bool {
    let probe = async {
        let mut s = TcpStream::connect(addr).await?;
        s.write_all(b"GET /v2/ HTTP/1.0\r\nHost: probe\r\n\r\n")
            .await?;
        let mut buf = [0u8; 5];
        s.read_exact(&mut buf).await?;
        Ok::<_, io::Error>(&buf == b"HTTP/")
    };
    matches!(timeout(CONNECT_TIMEOUT, probe).await, Ok(Ok(true)))
}

/// Does `addr` answer a TLS handshake (whatever its certificate)?
pub async fn speaks_tls(addr: SocketAddr, host: &str, trust: &Trust) -> bool {
    let Ok(Ok(s)) = timeout(CONNECT_TIMEOUT, TcpStream::connect(addr)).await else {
        return false;
    };
    match handshake(s, host, trust).await {
        Ok(_) => true,
        Err(Transport::Tls(e)) => matches!(
            e,
            rustls::Error::InvalidCertificate(_) | rustls::Error::AlertReceived(_)
        ),
        Err(_) => false,
    }
}
