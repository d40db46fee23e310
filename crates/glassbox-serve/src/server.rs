//! The accept loop: HTTP/1.1 on a TCP listener with a header-read timeout (a connection that
//! opens and never sends is closed), each connection its own task, and graceful shutdown: on
//! the signal the listener closes, in-flight requests and streams finish, and after the grace
//! period whatever remains is dropped (its jobs are cancelled with it).

use std::future::Future;
use std::time::Duration;

use axum::Router;
use hyper_util::rt::{TokioIo, TokioTimer};
use hyper_util::server::graceful::GracefulShutdown;
use hyper_util::service::TowerToHyperService;
use tokio::net::TcpListener;

/// Connection settings.
#[derive(Debug, Clone, Copy)]
pub struct ServerOptions {
    /// Time allowed for a request's headers to arrive (also closes idle keep-alive connections
    /// waiting for a next request).
    pub header_timeout: Duration,
    /// Time in-flight requests get to finish after the shutdown signal.
    pub shutdown_grace: Duration,
}

impl Default for ServerOptions {
    fn default() -> Self {
        Self {
            header_timeout: Duration::from_secs(10),
            shutdown_grace: Duration::from_secs(30),
        }
    }
}

/// Serves `app` on `listener` until `shutdown` completes.
pub async fn serve(
    listener: TcpListener,
    app: Router,
    options: ServerOptions,
    shutdown: impl Future<Output = ()>,
) -> std::io::Result<()> {
    let graceful = GracefulShutdown::new();
    let mut shutdown = std::pin::pin!(shutdown);
    loop {
        tokio::select! {
            accepted = listener.accept() => {
                let stream = match accepted {
                    Ok((s, _)) => s,
                    Err(e) => {
                        // Out of file descriptors and the like: wait, keep serving the others.
                        eprintln!("glassbox serve: accept failed: {e}");
                        tokio::time::sleep(Duration::from_millis(50)).await;
                        continue;
                    }
                };
                let _ = stream.set_nodelay(true);
                let mut builder = hyper::server::conn::http1::Builder::new();
                builder.timer(TokioTimer::new()).header_read_timeout(options.header_timeout).keep_alive(true);
                let conn = builder.serve_connection(TokioIo::new(stream), TowerToHyperService::new(app.clone()));
                let conn = graceful.watch(conn);
                tokio::spawn(async move {
                    let _ = conn.await;
                });
            }
            () = &mut shutdown => break,
        }
    }
    drop(listener);
    tokio::select! {
        () = graceful.shutdown() => {}
        () = tokio::time::sleep(options.shutdown_grace) => {
            eprintln!("glassbox serve: in-flight requests did not finish within {} s; closing them", options.shutdown_grace.as_secs());
        }
    }
    Ok(())
}
