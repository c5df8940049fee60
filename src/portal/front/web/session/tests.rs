//! Unit tests of a browser session's state: attaching, the outbox and its bound, long-poll
//! batches, WebSocket acknowledgements and replay, input counted once, rendering; and the
//! session constructors other web tests use.

use super::*;

/// A session with no hub or core, for unit tests.
pub(in crate::portal::front::web) fn session(limit: usize) -> Arc<WebSession> {
    session_to(
        limit,
        PortInput::for_test(1, tokio::sync::mpsc::channel(1).0, 1024),
    )
}

/// A session whose input goes to `input`.
pub(in crate::portal::front::web) fn session_to(limit: usize, input: PortInput) -> Arc<WebSession> {
    Arc::new(WebSession {
        key: Mutex::new(Key {
            token: "t".into(),
            previous: None,
            address: IpAddr::from([127, 0, 0, 1]),
        }),
        protocol: Protocol::WebSocket,
        input,
        state: Mutex::new(State::new(None)),
        changed: watch::Sender::new(0),
        view: Mutex::new(PortView::default()),
        limit,
    })
}

#[test]
fn the_newest_transport_wins_and_gets_what_was_queued() {
    let s = session(1 << 20);
    let a = s.attach();
    assert!(s.push_msg(Message::text("one")));
    let b = s.attach();
    assert!(s.take(a.generation).superseded);
    let t = s.take(b.generation);
    assert!(!t.superseded);
    assert_eq!(t.frames.len(), 1);
    assert_eq!(t.frames[0].json, r#"["text",["one"],{}]"#);
    // Detaching an old generation does not detach the new one.
    drop(a);
    assert_eq!(s.lock().current, b.generation);
    assert!(s.lock().detached_since.is_none());
    drop(b);
    assert!(s.lock().detached_since.is_some());
}

#[test]
fn a_long_poll_answer_is_sent_again_until_acknowledged() {
    let s = session(1 << 20);
    let a = s.attach();
    s.push_msg(Message::text("one"));
    let (t, batch) = s.take_batch(a.generation, Some(0));
    assert_eq!(t.frames.len(), 1);
    let first = batch.unwrap();
    drop(a);
    // The answer was lost: the next poll still acknowledges the batch before it.
    s.push_msg(Message::text("two"));
    let b = s.attach();
    let (t, batch) = s.take_batch(b.generation, Some(0));
    let texts: Vec<_> = t
        .frames
        .iter()
        .map(|f| f.msg.first_str().unwrap())
        .collect();
    assert_eq!(texts, ["one", "two"]);
    let second = batch.unwrap();
    assert_ne!(first, second);
    drop(b);
    // Acknowledged: not sent again.
    let c = s.attach();
    s.push_msg(Message::text("three"));
    let (t, _) = s.take_batch(c.generation, Some(second));
    let texts: Vec<_> = t
        .frames
        .iter()
        .map(|f| f.msg.first_str().unwrap())
        .collect();
    assert_eq!(texts, ["three"]);
    // Without an ack header, nothing is kept for later.
    s.push_msg(Message::text("four"));
    let (t, batch) = s.take_batch(c.generation, None);
    assert_eq!(t.frames.len(), 1);
    assert_eq!(batch, None);
    assert!(s.lock().last_batch.is_none());
}

#[test]
fn websocket_output_is_kept_until_acknowledged_and_replayed_after_a_drop() {
    let s = session(1 << 20);
    let a = s.attach();
    // Nothing is kept for a client that never acknowledges.
    s.push_msg(Message::text("zero"));
    let t = s.take(a.generation);
    s.ws_sending(&t.frames);
    assert!(s.lock().ws_unacked.is_empty());
    s.ws_ack(1);
    for t in ["one", "two", "three"] {
        s.push_msg(Message::text(t));
    }
    let t = s.take(a.generation);
    assert_eq!(
        t.frames.iter().map(|f| f.seq).collect::<Vec<_>>(),
        [2, 3, 4]
    );
    s.ws_sending(&t.frames);
    s.ws_ack(2);
    drop(a);
    // The connection died with "two" and "three" unread; the page saw "zero" and "one".
    s.push_msg(Message::text("four"));
    let (again, gap) = s.ws_replay(2);
    assert_eq!(
        again,
        [r#"["text",["two"],{}]"#, r#"["text",["three"],{}]"#]
    );
    assert!(!gap);
    // "four" is still in the outbox, after them.
    let b = s.attach();
    assert_eq!(s.take(b.generation).frames[0].seq, 5);
    // A page that saw nothing, after the kept messages were acknowledged: a gap.
    s.ws_ack(4);
    let (again, gap) = s.ws_replay(0);
    assert!(again.is_empty());
    assert!(gap);
}

#[test]
fn resent_input_is_counted_once() {
    let s = session(1 << 20);
    assert_eq!(s.input_arrived(None, 2), 0);
    assert_eq!(s.input_seen(), 2);
    // A long-poll POST of messages 3..=5, then the same POST again, then 5..=6.
    assert_eq!(s.input_arrived(Some(3), 3), 0);
    assert_eq!(s.input_arrived(Some(3), 3), 3);
    assert_eq!(s.input_arrived(Some(5), 2), 1);
    assert_eq!(s.input_seen(), 6);
    assert_eq!(s.input_arrived(Some(7), 0), 0);
    // Numbers from a hostile page cannot overflow anything.
    assert_eq!(s.input_arrived(Some(u64::MAX), 5), 0);
    assert_eq!(s.input_seen(), u64::MAX);
    assert_eq!(s.input_arrived(None, 5), 0);
    assert!(!s.ws_replay(u64::MAX).1);
}

#[test]
fn an_outbox_past_its_bound_closes_the_session() {
    let s = session(100);
    assert!(s.push_msg(Message::text("x".repeat(40))));
    assert!(!s.push_msg(Message::text("y".repeat(80))));
    assert_eq!(s.closed(), Some(CloseReason::OutputOverflow));
    let attached = s.attach();
    let t = s.take(attached.generation);
    assert!(!t.superseded);
    assert!(t.frames.is_empty(), "an overflowed outbox is dropped");
    assert!(t.closed.unwrap().contains("overflow"));
}

#[test]
fn text_is_rendered_for_the_sessions_colour_level() {
    let s = session(1 << 20);
    let mut flags = Map::new();
    flags.insert("ANSI".into(), Value::Bool(true));
    s.merge_flags(&flags);
    let f = s.render(vec![Message::text("|rred|n"), Message::new("Char.Vitals")]);
    assert_eq!(f[0].msg.first_str(), Some("\x1b[22;31mred\x1b[0m"));
    assert_eq!(f[1].json, r#"["Char.Vitals",[],{}]"#);
    flags.insert("SCREENREADER".into(), Value::Bool(true));
    s.merge_flags(&flags);
    let f = s.render(vec![Message::text("|rred|n")]);
    assert_eq!(f[0].msg.first_str(), Some("red"));
}
