//! The WebSocket client side shared by the tests of the serving function
//! (`websocket_busy`, `websocket_handler`): open a socket, read the next
//! frame, read what the server side reported, each bounded by `IO_TIMEOUT`.

use std::net::SocketAddr;

use futures_util::StreamExt;
use tokio::net::TcpStream;
use tokio::sync::mpsc;
use tokio_tungstenite::tungstenite::Message as Frame;
use tokio_tungstenite::WebSocketStream;
use wsgi_tests::IO_TIMEOUT;

pub(crate) type Client = WebSocketStream<TcpStream>;

/// A WebSocket client on `path` of the server at `addr`.
pub(crate) async fn open(addr: SocketAddr, path: &str) -> Client {
    let tcp = TcpStream::connect(addr).await.unwrap();
    let (client, _) = tokio_tungstenite::client_async(format!("ws://{addr}{path}"), tcp)
        .await
        .unwrap();
    client
}

/// The next frame the server sent.
pub(crate) async fn next(client: &mut Client) -> Frame {
    tokio::time::timeout(IO_TIMEOUT, client.next())
        .await
        .expect("a message in time")
        .expect("the socket is open")
        .expect("a valid message")
}

/// The next line the server side reported on its channel.
pub(crate) async fn reported(report: &mut mpsc::UnboundedReceiver<String>) -> String {
    tokio::time::timeout(IO_TIMEOUT, report.recv())
        .await
        .expect("a report in time")
        .expect("the server side reports")
}
