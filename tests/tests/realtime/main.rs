//! Real-time applications over real sockets: WebSocket (the handshake,
//! framing and limits, interoperability with independent clients, many
//! sockets at once), server-sent events, and the chat example.

mod chat;
mod sse;
mod websocket;
mod websocket_clients;
