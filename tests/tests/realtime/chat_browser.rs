//! The chat example in a real browser: a headless chromium (`browser.rs`)
//! opens two pages of the app on a loopback port, types a message in one
//! and sees it in the other: over the WebSocket, then over the event
//! stream the page falls back to (forced with `/?sse`), sending with
//! `POST /send`. Skipped without chromium unless `WSGI_REQUIRE_CHROMIUM=1`.

use std::time::Duration;

use super::browser::{chromium_or_skip, Browser, Page};
use super::chat::example;
use wsgi_tests::{serve_with, test_config};

/// The whole test's bound: starting chromium on a loaded 2-core machine
/// takes seconds; everything else, milliseconds.
const TEST_TIMEOUT: Duration = Duration::from_secs(120);

/// How long a page may take to connect, or a message to arrive.
const PAGE_TIMEOUT: Duration = Duration::from_secs(20);

// Until the page has loaded, `about:blank` (or a part of the page) is
// there: the expressions must not throw then.
const TRANSPORT: &str = "document.getElementById('transport')?.textContent";
const LOG: &str = "(document.getElementById('log')?.textContent ?? '')";

/// Opens the chat at `url` and waits until its transport is `transport`.
async fn open_chat(browser: &mut Browser, url: &str, transport: &str) -> Page {
    let page = browser.open(url).await;
    browser
        .wait_for(
            &page,
            &format!("{TRANSPORT} === '{transport}'"),
            TRANSPORT,
            PAGE_TIMEOUT,
        )
        .await;
    page
}

/// Types `text` into `from`'s input and submits the form, as a person
/// would, then waits for it in `to`'s log (and in `from`'s: the room
/// echoes to everyone).
async fn say(browser: &mut Browser, from: &Page, to: &Page, text: &str) {
    browser
        .eval(
            from,
            &format!(
                "document.getElementById('text').value = '{text}';
                 document.getElementById('form').requestSubmit();
                 document.getElementById('text').value === ''"
            ),
        )
        .await;
    let arrived = format!("{LOG}.includes('{text}')");
    browser.wait_for(to, &arrived, LOG, PAGE_TIMEOUT).await;
    browser.wait_for(from, &arrived, LOG, PAGE_TIMEOUT).await;
}

#[tokio::test]
async fn two_chromium_pages_talk_over_the_websocket_and_over_the_event_stream() {
    const TEST: &str = "two_chromium_pages_talk_over_the_websocket_and_over_the_event_stream";
    let Some(chromium) = chromium_or_skip(TEST) else {
        return;
    };
    let server = serve_with(example::app(example::Room::new(10)), test_config());
    let base = format!("http://{}/", server.local_addr());
    let talk = async {
        let mut browser = Browser::launch(&chromium).await;

        let alice = open_chat(&mut browser, &base, "WebSocket").await;
        let bob = open_chat(&mut browser, &base, "WebSocket").await;
        say(&mut browser, &alice, &bob, "hello bob, over a websocket").await;
        say(&mut browser, &bob, &alice, "hi alice, websocket here too").await;

        let sse = format!("{base}?sse");
        let carol = open_chat(&mut browser, &sse, "server-sent events").await;
        let dave = open_chat(&mut browser, &sse, "server-sent events").await;
        say(&mut browser, &carol, &dave, "hello dave, over events").await;
        say(&mut browser, &dave, &carol, "hi carol, events and posts").await;
        // The same room: the WebSocket pages heard the event-stream pages.
        browser
            .wait_for(
                &alice,
                &format!("{LOG}.includes('hi carol, events and posts')"),
                LOG,
                PAGE_TIMEOUT,
            )
            .await;
    };
    tokio::time::timeout(TEST_TIMEOUT, talk)
        .await
        .unwrap_or_else(|_| panic!("the browser test took over {TEST_TIMEOUT:?}"));
    server.shutdown().await;
}
