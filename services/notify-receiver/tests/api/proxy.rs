//! A TCP proxy between the receiver and RabbitMQ, for failures a test must cause on demand
//! without touching the broker other tests share: sever every connection (a broker crash or a
//! network cut), refuse new ones (the broker is down), or hold the broker's bytes back (confirms
//! that do not come).

use std::net::SocketAddr;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};

use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::watch;
use tokio::task::AbortHandle;

pub struct Proxy {
    port: u16,
    state: Arc<State>,
    accept: AbortHandle,
}

struct State {
    upstream: SocketAddr,
    refusing: AtomicBool,
    /// `true` while bytes from the broker are held back.
    paused: watch::Sender<bool>,
    connections: Mutex<Vec<AbortHandle>>,
}

impl Proxy {
    /// Proxies 127.0.0.1:<port> to the local RabbitMQ.
    pub async fn start() -> Self {
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let port = listener.local_addr().unwrap().port();
        let state = Arc::new(State {
            upstream: "127.0.0.1:5672".parse().unwrap(),
            refusing: AtomicBool::new(false),
            paused: watch::channel(false).0,
            connections: Mutex::new(Vec::new()),
        });
        let accept_state = state.clone();
        let accept = tokio::spawn(async move {
            loop {
                let Ok((client, _)) = listener.accept().await else {
                    continue;
                };
                if accept_state.refusing.load(Ordering::SeqCst) {
                    drop(client);
                    continue;
                }
                let task = tokio::spawn(forward(client, accept_state.clone()));
                accept_state
                    .connections
                    .lock()
                    .unwrap()
                    .push(task.abort_handle());
            }
        })
        .abort_handle();
        Self {
            port,
            state,
            accept,
        }
    }

    /// An AMQP URL through this proxy.
    pub fn amqp_url(&self) -> String {
        format!("amqp://guest:guest@127.0.0.1:{}/%2f", self.port)
    }

    /// Drops every proxied connection at once, as a crashed broker would.
    pub fn sever(&self) {
        for connection in self.state.connections.lock().unwrap().drain(..) {
            connection.abort();
        }
    }

    /// While refusing, new connections are closed as soon as they are accepted.
    pub fn set_refusing(&self, refusing: bool) {
        self.state.refusing.store(refusing, Ordering::SeqCst);
    }

    /// While paused, the broker's bytes (confirms included) are held back, not lost.
    pub fn set_paused(&self, paused: bool) {
        self.state.paused.send_replace(paused);
    }
}

impl Drop for Proxy {
    fn drop(&mut self) {
        self.accept.abort();
        self.sever();
    }
}

async fn forward(client: TcpStream, state: Arc<State>) {
    let Ok(upstream) = TcpStream::connect(state.upstream).await else {
        return;
    };
    let (mut client_read, mut client_write) = client.into_split();
    let (mut upstream_read, mut upstream_write) = upstream.into_split();
    let to_broker = tokio::io::copy(&mut client_read, &mut upstream_write);
    let mut paused = state.paused.subscribe();
    let to_client = async move {
        let mut buffer = vec![0u8; 16 * 1024];
        loop {
            let read = upstream_read.read(&mut buffer).await?;
            if read == 0 {
                return Ok::<_, std::io::Error>(());
            }
            // Hold the bytes while paused; they are delivered, in order, once resumed.
            while *paused.borrow_and_update() {
                if paused.changed().await.is_err() {
                    return Ok(());
                }
            }
            client_write.write_all(&buffer[..read]).await?;
        }
    };
    // Either side closing ends both, like a real peer going away.
    tokio::select! {
        _ = to_broker => {}
        _ = to_client => {}
    }
}
