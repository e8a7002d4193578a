//! A TCP proxy that a test can cut and restore, to inject network faults between Recon and a
//! real service without touching the machine's shared servers.
//!
//! While cut, existing connections are closed and new ones are accepted and closed at once (the
//! client sees a reset, as with a dead server behind a live load balancer). The proxy runs on
//! its own thread and runtime, so sync and async tests can use it alike.

use std::net::SocketAddr;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};

use tokio::net::{TcpListener, TcpStream};
use tokio::sync::watch;

/// The proxy handle; dropping it stops the proxy.
#[derive(Debug)]
pub struct TcpProxy {
    address: SocketAddr,
    open: Arc<AtomicBool>,
    generation: watch::Sender<u64>,
    stop: Option<tokio::sync::oneshot::Sender<()>>,
}

impl TcpProxy {
    /// Starts a proxy on a free loopback port forwarding to `target`; `open` says whether it
    /// passes traffic from the start.
    pub fn start(target: SocketAddr, open: bool) -> Self {
        let (ready_tx, ready_rx) = std::sync::mpsc::channel();
        let (stop_tx, stop_rx) = tokio::sync::oneshot::channel::<()>();
        let open = Arc::new(AtomicBool::new(open));
        let (generation, generation_rx) = watch::channel(0u64);
        let open_flag = Arc::clone(&open);
        std::thread::spawn(move || {
            let runtime = tokio::runtime::Builder::new_multi_thread()
                .worker_threads(1)
                .enable_all()
                .build()
                .expect("proxy runtime");
            runtime.block_on(async move {
                let listener = TcpListener::bind("127.0.0.1:0").await.expect("bind proxy");
                ready_tx
                    .send(listener.local_addr().expect("proxy address"))
                    .expect("report address");
                let accept = async {
                    loop {
                        let Ok((client, _)) = listener.accept().await else {
                            continue;
                        };
                        if !open_flag.load(Ordering::Acquire) {
                            drop(client);
                            continue;
                        }
                        let mut cut = generation_rx.clone();
                        cut.mark_unchanged();
                        tokio::spawn(async move {
                            let Ok(mut upstream) = TcpStream::connect(target).await else {
                                return;
                            };
                            let mut client = client;
                            tokio::select! {
                                _ = tokio::io::copy_bidirectional(&mut client, &mut upstream) => {}
                                _ = cut.changed() => {}
                            }
                        });
                    }
                };
                tokio::select! {
                    () = accept => {}
                    _ = stop_rx => {}
                }
            });
        });
        let address = ready_rx.recv().expect("proxy started");
        Self {
            address,
            open,
            generation,
            stop: Some(stop_tx),
        }
    }

    /// Where clients should connect.
    pub fn address(&self) -> SocketAddr {
        self.address
    }

    /// Cuts every connection and refuses new ones.
    pub fn cut(&self) {
        self.open.store(false, Ordering::Release);
        self.generation.send_modify(|generation| *generation += 1);
    }

    /// Passes traffic again.
    pub fn restore(&self) {
        self.open.store(true, Ordering::Release);
    }
}

impl Drop for TcpProxy {
    fn drop(&mut self) {
        self.cut();
        if let Some(stop) = self.stop.take() {
            let _ = stop.send(());
        }
    }
}
