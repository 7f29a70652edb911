//! A TCP link to a real server that a test can cut and restore, to take the database away from
//! a service without stopping the Postgres every other test shares.

use std::net::SocketAddr;
use std::sync::Arc;

use tokio::net::{TcpListener, TcpStream};
use tokio::sync::watch;

/// Forwards connections on [`Link::address`] to a target while up; cut, it drops every open
/// connection and refuses new ones.
pub struct Link {
    pub address: SocketAddr,
    up: Arc<watch::Sender<bool>>,
    accept: tokio::task::JoinHandle<()>,
}

impl Link {
    /// A link to `target`, up.
    pub async fn to(target: SocketAddr) -> Self {
        let listener = TcpListener::bind("127.0.0.1:0")
            .await
            .unwrap_or_else(|error| panic!("cannot listen for a link: {error}"));
        let address = listener
            .local_addr()
            .unwrap_or_else(|error| panic!("link address: {error}"));
        let up = Arc::new(watch::channel(true).0);
        let accept = tokio::spawn(forward(listener, target, Arc::clone(&up)));
        Self {
            address,
            up,
            accept,
        }
    }

    /// Drops every connection through the link and refuses new ones until [`Link::restore`].
    pub fn cut(&self) {
        self.up.send_replace(false);
    }

    pub fn restore(&self) {
        self.up.send_replace(true);
    }
}

impl Drop for Link {
    fn drop(&mut self) {
        self.accept.abort();
    }
}

async fn forward(listener: TcpListener, target: SocketAddr, up: Arc<watch::Sender<bool>>) {
    while let Ok((mut inbound, _)) = listener.accept().await {
        if !*up.borrow() {
            continue;
        }
        let mut down = up.subscribe();
        tokio::spawn(async move {
            let Ok(mut outbound) = TcpStream::connect(target).await else {
                return;
            };
            tokio::select! {
                _ = tokio::io::copy_bidirectional(&mut inbound, &mut outbound) => {}
                _ = down.wait_for(|up| !*up) => {}
            }
        });
    }
}
