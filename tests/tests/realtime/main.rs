//! Real-time applications over real sockets: WebSocket (the handshake,
//! framing and limits, interoperability with independent clients, many
//! sockets at once), server-sent events, and the chat example (over raw
//! sockets, and in a headless chromium).

mod browser;
mod chat;
mod chat_browser;
mod sse;
mod websocket;
mod websocket_busy;
mod websocket_clients;
mod websocket_handler;
mod websocket_http2;
mod ws_client;
