//! Serving a router on a listener, with the limits a public server has.
//!
//! `axum::serve` keeps every connection as long as the client likes: ~20,000
//! idle connections exhausted the process's file limit. Here, as in any
//! server facing clients it does not control:
//!
//! - at most [`Limits::max_connections`] connections are open at once; one
//!   beyond gets a `503` with the one error shape and is closed (over TLS it
//!   is closed at once: an answer would need a handshake first);
//! - a client has [`Limits::header_read_timeout`] to send a request's
//!   headers, and an HTTP/1.1 connection idle that long (before its first
//!   request or between requests) is closed (hyper's timer starts when it
//!   waits for a request); a TLS handshake gets as long. Plain HTTP is
//!   HTTP/1.1 only (no h2c); HTTP/2, chosen by ALPN under TLS, is pinged
//!   so a vanished peer's connection goes, but an idle live one stays (it
//!   still counts against the bound);
//! - on shutdown, open connections finish their requests for up to
//!   [`GRACE`], then are dropped.

use std::future::Future;
use std::sync::Arc;
use std::time::Duration;

use axum::Router;
use axum_server::accept::Accept;
use hyper_util::rt::{TokioExecutor, TokioIo, TokioTimer};
use hyper_util::server::conn::auto;
use hyper_util::service::TowerToHyperService;
use tokio::io::{AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt};
use tokio::net::TcpStream;
use tokio::sync::{OwnedSemaphorePermit, Semaphore, watch};

/// How long open connections may finish their requests after shutdown.
pub const GRACE: Duration = Duration::from_secs(5);

/// At most this many refusals are being written at once; beyond, a
/// connection over the bound is closed without an answer.
const REFUSALS: usize = 64;

/// What one client may hold of the service.
#[derive(Debug, Clone)]
pub struct Limits {
    /// Open connections at once.
    pub max_connections: usize,
    /// To send a request's headers (and to start the next request on a
    /// kept-alive connection, and to finish a TLS handshake).
    pub header_read_timeout: Duration,
}

impl Default for Limits {
    /// 512 connections: well under the common 1,024 descriptors of a
    /// process, far over what a test bench's clients open (the load
    /// benchmark uses tens). 30 s: hyper's own default for headers.
    fn default() -> Self {
        Limits {
            max_connections: 512,
            header_read_timeout: Duration::from_secs(30),
        }
    }
}

/// Serves `app` on `listener` until `shutdown` completes: plain HTTP, or
/// HTTPS with `tls`, with the default [`Limits`].
pub async fn serve(
    listener: std::net::TcpListener,
    app: Router,
    tls: Option<&crate::tls::ServerTls>,
    shutdown: impl Future<Output = ()> + Send + 'static,
) -> std::io::Result<()> {
    serve_with(listener, app, tls, Limits::default(), shutdown).await
}

/// [`serve`] with the given limits.
pub async fn serve_with(
    listener: std::net::TcpListener,
    app: Router,
    tls: Option<&crate::tls::ServerTls>,
    limits: Limits,
    shutdown: impl Future<Output = ()> + Send + 'static,
) -> std::io::Result<()> {
    listener.set_nonblocking(true)?;
    let listener = tokio::net::TcpListener::from_std(listener)?;
    let acceptor = match tls {
        None => None,
        Some(tls) => {
            let config = axum_server::tls_openssl::OpenSSLConfig::from_pem(
                tls.certificate_pem.as_bytes(),
                tls.private_key_pem.as_bytes(),
            )
            .map_err(std::io::Error::other)?;
            Some(axum_server::tls_openssl::OpenSSLAcceptor::new(config))
        }
    };
    let open = Arc::new(Semaphore::new(limits.max_connections));
    let refusing = Arc::new(Semaphore::new(REFUSALS));
    let (stop, stopped) = watch::channel(false);
    let shutdown = std::pin::pin!(shutdown);
    let mut shutdown = shutdown;
    loop {
        let stream = tokio::select! {
            () = &mut shutdown => break,
            accepted = listener.accept() => match accepted {
                Ok((stream, _)) => stream,
                Err(e) => {
                    // Out of descriptors (or a connection reset before it
                    // was taken): wait a moment rather than spin.
                    tracing::warn!("accepting a connection: {e}");
                    tokio::time::sleep(Duration::from_millis(50)).await;
                    continue;
                }
            },
        };
        let Ok(permit) = open.clone().try_acquire_owned() else {
            if acceptor.is_none()
                && let Ok(slot) = refusing.clone().try_acquire_owned()
            {
                tokio::spawn(refuse(stream, slot));
            }
            continue;
        };
        let _ = stream.set_nodelay(true);
        let (app, limits, stopped) = (app.clone(), limits.clone(), stopped.clone());
        let acceptor = acceptor.clone();
        tokio::spawn(async move {
            let _permit = permit;
            match acceptor {
                None => connection(stream, false, app, &limits, stopped).await,
                Some(acceptor) => {
                    let handshake = tokio::time::timeout(
                        limits.header_read_timeout,
                        acceptor.accept(stream, ()),
                    );
                    if let Ok(Ok((stream, ()))) = handshake.await {
                        let h2 = stream.ssl().selected_alpn_protocol() == Some(b"h2");
                        connection(stream, h2, app, &limits, stopped).await;
                    }
                }
            }
        });
    }
    let _ = stop.send(true);
    let all = u32::try_from(limits.max_connections).unwrap_or(u32::MAX);
    let _ = tokio::time::timeout(GRACE, open.acquire_many(all)).await;
    Ok(())
}

/// Serves one connection until the client leaves, a limit closes it, or the
/// service stops (then its requests in flight finish first).
///
/// The protocol is known before the first byte (plain HTTP is HTTP/1.1; TLS
/// says by ALPN): guessing it from the first bytes would wait for them with
/// no timeout, and an idle connection that never sends one would stay.
async fn connection<I>(
    io: I,
    h2: bool,
    app: Router,
    limits: &Limits,
    mut stopped: watch::Receiver<bool>,
) where
    I: AsyncRead + AsyncWrite + Unpin + Send + 'static,
{
    let builder = auto::Builder::new(TokioExecutor::new());
    let mut builder = if h2 {
        builder.http2_only()
    } else {
        builder.http1_only()
    };
    builder
        .http1()
        .timer(TokioTimer::new())
        .header_read_timeout(limits.header_read_timeout);
    builder
        .http2()
        .timer(TokioTimer::new())
        .keep_alive_interval(limits.header_read_timeout)
        .keep_alive_timeout(limits.header_read_timeout);
    let served = builder.serve_connection(TokioIo::new(io), TowerToHyperService::new(app));
    let mut served = std::pin::pin!(served);
    let mut stopping = false;
    loop {
        tokio::select! {
            _ = served.as_mut() => return,
            _ = stopped.wait_for(|s| *s), if !stopping => {
                stopping = true;
                served.as_mut().graceful_shutdown();
            }
        }
    }
}

/// Tells a client over the bound to come back later, in the one error shape.
async fn refuse(mut stream: TcpStream, _slot: OwnedSemaphorePermit) {
    const BODY: &str = r#"{"error":{"code":"too_many_connections","message":"the service has as many connections open as it keeps; try again shortly"}}"#;
    let answer = format!(
        "HTTP/1.1 503 Service Unavailable\r\ncontent-type: application/json\r\ncontent-length: {}\r\nretry-after: 1\r\nconnection: close\r\n\r\n{BODY}",
        BODY.len()
    );
    // Take what the client already sent, so that closing does not reset the
    // connection before it reads the answer.
    let mut request = [0u8; 4096];
    let _ = tokio::time::timeout(Duration::from_millis(100), stream.read(&mut request)).await;
    let _ = stream.write_all(answer.as_bytes()).await;
    let _ = stream.shutdown().await;
}
