//! The protocol cases the Autobahn test suite covers, sent with the raw
//! frame client: framing, fragmentation with interleaved control frames,
//! UTF-8, close codes and size limits.

use super::*;

// ---- framing (Autobahn 1.x, 2.x) ----

#[tokio::test]
async fn text_and_binary_messages_of_every_length_encoding_echo() {
    let server = serve().await;
    let (mut client, _) = open(server.local_addr(), "/echo", "").await;
    for len in [0usize, 1, 125, 126, 127, 65535, 65536] {
        let text = "a".repeat(len);
        client.send(true, 0x1, text.as_bytes()).await;
        let frame = client.recv().await.unwrap();
        assert_eq!(
            (frame.opcode, frame.payload.len()),
            (1, len),
            "text of {len}"
        );
        let binary: Vec<u8> = (0..len).map(|i| i as u8).collect();
        client.send(true, 0x2, &binary).await;
        let frame = client.recv().await.unwrap();
        assert_eq!(
            (frame.opcode, frame.payload),
            (2, binary),
            "binary of {len}"
        );
    }
    server.shutdown().await;
}

#[tokio::test]
async fn pings_get_pongs_with_their_payload_and_pongs_are_ignored() {
    let server = serve().await;
    let (mut client, _) = open(server.local_addr(), "/echo", "").await;
    for payload in [&b""[..], b"ping", &[0xffu8; 125][..]] {
        client.send(true, 0x9, payload).await;
        let frame = client.recv().await.unwrap();
        assert_eq!((frame.opcode, frame.payload.as_slice()), (0xA, payload));
    }
    client.send(true, 0xA, b"unsolicited").await;
    client.send(true, 0x1, b"still here").await;
    let frame = client.recv().await.unwrap();
    assert_eq!(
        (frame.opcode, frame.payload.as_slice()),
        (1, &b"still here"[..])
    );
    server.shutdown().await;
}

#[tokio::test]
async fn protocol_violations_fail_the_connection_with_1002() {
    let server = serve().await;
    let addr = server.local_addr();
    // (first byte, payload, masked, case)
    let cases: [(u8, Vec<u8>, bool, &str); 10] = [
        (0x80 | 0x40 | 0x1, b"rsv1".to_vec(), true, "RSV1 set"),
        (0x80 | 0x20 | 0x2, b"rsv2".to_vec(), true, "RSV2 set"),
        (0x80 | 0x10 | 0x9, vec![], true, "RSV3 on a ping"),
        (0x80 | 0x3, vec![], true, "reserved data opcode 3"),
        (0x80 | 0x7, b"x".to_vec(), true, "reserved data opcode 7"),
        (0x80 | 0xB, vec![], true, "reserved control opcode 11"),
        (
            0x80 | 0xF,
            b"x".to_vec(),
            true,
            "reserved control opcode 15",
        ),
        (0x80 | 0x9, vec![0; 126], true, "a ping over 125 bytes"),
        (0x9, b"fragmented".to_vec(), true, "a fragmented ping"),
        (
            0x80 | 0x1,
            b"unmasked".to_vec(),
            false,
            "an unmasked client frame",
        ),
    ];
    for (first, payload, masked, case) in cases {
        let (mut client, _) = open(addr, "/echo", "").await;
        client.send_raw(first, &payload, masked).await;
        assert_fails_with(&mut client, close_code::PROTOCOL, case).await;
    }
    // The server still serves.
    let (mut client, _) = open(addr, "/echo", "").await;
    client.send(true, 0x1, b"ok").await;
    assert_eq!(client.recv().await.unwrap().payload, b"ok");
    server.shutdown().await;
}

// ---- fragmentation and interleaved control frames (Autobahn 5.x) ----

#[tokio::test]
async fn fragmented_messages_are_joined_and_control_frames_may_interleave() {
    let server = serve().await;
    let (mut client, _) = open(server.local_addr(), "/echo", "").await;
    client.send(false, 0x1, b"frag").await;
    client.send(false, 0x0, b"men").await;
    client.send(true, 0x9, b"between").await;
    client.send(true, 0x0, b"ted").await;
    let pong = client.recv().await.unwrap();
    assert_eq!(
        (pong.opcode, pong.payload.as_slice()),
        (0xA, &b"between"[..])
    );
    let frame = client.recv().await.unwrap();
    assert_eq!(
        (frame.fin, frame.opcode, frame.payload.as_slice()),
        (true, 1, &b"fragmented"[..])
    );
    // Binary in many one-byte fragments.
    client.send(false, 0x2, &[0]).await;
    for i in 1..20u8 {
        client.send(i == 19, 0x0, &[i]).await;
    }
    let frame = client.recv().await.unwrap();
    assert_eq!(frame.payload, (0..20u8).collect::<Vec<_>>());
    // Empty fragments.
    client.send(false, 0x1, b"").await;
    client.send(false, 0x0, b"").await;
    client.send(true, 0x0, b"").await;
    let frame = client.recv().await.unwrap();
    assert_eq!((frame.opcode, frame.payload.len()), (1, 0));
    server.shutdown().await;
}

#[tokio::test]
async fn broken_fragmentation_fails_with_1002() {
    let server = serve().await;
    let addr = server.local_addr();
    let (mut client, _) = open(addr, "/echo", "").await;
    client.send(true, 0x0, b"continuation first").await;
    assert_fails_with(
        &mut client,
        close_code::PROTOCOL,
        "continuation without a start",
    )
    .await;

    let (mut client, _) = open(addr, "/echo", "").await;
    client.send(false, 0x1, b"one").await;
    client.send(true, 0x1, b"two").await;
    assert_fails_with(
        &mut client,
        close_code::PROTOCOL,
        "a new message inside a fragmented one",
    )
    .await;

    let (mut client, _) = open(addr, "/echo", "").await;
    client.send(false, 0x8, &1000u16.to_be_bytes()).await;
    assert_fails_with(&mut client, close_code::PROTOCOL, "a fragmented close").await;
    server.shutdown().await;
}

// ---- UTF-8 (Autobahn 6.x, 7.5) ----

#[tokio::test]
async fn text_must_be_utf8_even_across_fragments() {
    let server = serve().await;
    let addr = server.local_addr();
    // Valid: a four-byte character split over fragments mid-sequence.
    let (mut client, _) = open(addr, "/echo", "").await;
    let text = "κόσμε 𝄞 ok".as_bytes();
    client.send(false, 0x1, &text[..7]).await;
    client.send(false, 0x0, &text[7..12]).await;
    client.send(true, 0x0, &text[12..]).await;
    assert_eq!(client.recv().await.unwrap().payload, text);

    let invalid: [(&[u8], &str); 4] = [
        (
            b"\xce\xba\xe1\xbd\xb9\xcf\x83\xce\xbc\xce\xb5\xed\xa0\x80edited",
            "a surrogate",
        ),
        (b"\xff", "0xff"),
        (b"\xc0\xaf", "an overlong encoding"),
        (b"\xf4\x90\x80\x80", "a code point past U+10FFFF"),
    ];
    for (bytes, case) in invalid {
        let (mut client, _) = open(addr, "/echo", "").await;
        client.send(true, 0x1, bytes).await;
        assert_fails_with(&mut client, close_code::INVALID, case).await;
    }
    // Invalid in a middle fragment, the message never completed.
    let (mut client, _) = open(addr, "/echo", "").await;
    client.send(false, 0x1, b"ok so far").await;
    client.send(false, 0x0, b"\xff\xfe").await;
    assert_fails_with(
        &mut client,
        close_code::INVALID,
        "invalid UTF-8 in a fragment",
    )
    .await;
    // A close reason that is not UTF-8.
    let (mut client, _) = open(addr, "/echo", "").await;
    let mut payload = 1000u16.to_be_bytes().to_vec();
    payload.extend_from_slice(b"\xff\xfe");
    client.send(true, 0x8, &payload).await;
    let code = client.expect_close().await;
    assert!(matches!(code, Some(1007) | Some(1002)), "{code:?}");
    server.shutdown().await;
}

// ---- close codes (Autobahn 7.x) ----

#[tokio::test]
async fn the_close_handshake_echoes_valid_codes_and_refuses_invalid_ones() {
    let server = serve().await;
    let addr = server.local_addr();
    for code in [
        1000u16, 1001, 1002, 1003, 1007, 1008, 1009, 1010, 1011, 3000, 3999, 4000, 4999,
    ] {
        let (mut client, _) = open(addr, "/echo", "").await;
        let mut payload = code.to_be_bytes().to_vec();
        payload.extend_from_slice("bye ✓".as_bytes());
        client.send(true, 0x8, &payload).await;
        assert_eq!(
            client.expect_close().await,
            Some(code),
            "close {code} is echoed"
        );
        client.expect_end().await;
    }
    for code in [
        0u16, 999, 1004, 1005, 1006, 1015, 1016, 1100, 2000, 2999, 5000, 65535,
    ] {
        let (mut client, _) = open(addr, "/echo", "").await;
        client.close(code).await;
        assert_eq!(
            client.expect_close().await,
            Some(1002),
            "close {code} is refused"
        );
        client.expect_end().await;
    }
    // An empty close is answered with an empty close.
    let (mut client, _) = open(addr, "/echo", "").await;
    client.send(true, 0x8, b"").await;
    assert_eq!(client.expect_close().await, None);
    client.expect_end().await;
    // A one-byte close payload is invalid.
    let (mut client, _) = open(addr, "/echo", "").await;
    client.send(true, 0x8, &[3]).await;
    assert_fails_with(&mut client, close_code::PROTOCOL, "a one-byte close").await;
    // Data after the close is not answered.
    let (mut client, _) = open(addr, "/echo", "").await;
    client.close(1000).await;
    client.send(true, 0x1, b"after close").await;
    assert_eq!(client.expect_close().await, Some(1000));
    client.expect_end().await;
    server.shutdown().await;
}

// ---- limits (Autobahn 9.x-style sizes) ----

#[tokio::test]
async fn messages_over_the_limit_close_with_1009() {
    let server = serve().await;
    let addr = server.local_addr();
    // At the limit: fine.
    let (mut client, _) = open(addr, "/echo", "").await;
    client.send(true, 0x2, &vec![7u8; 64 * 1024]).await;
    assert_eq!(client.recv().await.unwrap().payload.len(), 64 * 1024);
    // One frame over it.
    let (mut client, _) = open(addr, "/echo", "").await;
    client.send(true, 0x2, &vec![7u8; 64 * 1024 + 1]).await;
    assert_fails_with(&mut client, close_code::SIZE, "a frame over the limit").await;
    // Fragments adding up to more.
    let (mut client, _) = open(addr, "/echo", "").await;
    for i in 0..5 {
        client
            .send(false, if i == 0 { 0x2 } else { 0x0 }, &vec![1u8; 16 * 1024])
            .await;
    }
    assert_fails_with(&mut client, close_code::SIZE, "fragments over the limit").await;
    // A declared 64-bit length far over the limit, with no payload sent.
    let (mut client, _) = open(addr, "/echo", "").await;
    let mut frame = vec![0x82, 0x80 | 127];
    frame.extend_from_slice(&(1u64 << 40).to_be_bytes());
    frame.extend_from_slice(&[0, 0, 0, 0]);
    client.stream.write_all(&frame).await.unwrap();
    assert_fails_with(&mut client, close_code::SIZE, "a huge declared length").await;
    server.shutdown().await;
}
