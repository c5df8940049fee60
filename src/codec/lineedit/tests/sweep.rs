//! No-panic sweep: every byte and pseudo-random input split at pseudo-random points, with the
//! rendering invariants checked after each step; hidden mode never leaks input; a big paste
//! is one write.

use super::*;

struct Lcg(u64);

impl Lcg {
    fn next(&mut self) -> u32 {
        self.0 = self
            .0
            .wrapping_mul(6364136223846793005)
            .wrapping_add(1442695040888963407);
        (self.0 >> 33) as u32
    }
    fn below(&mut self, n: usize) -> usize {
        self.next() as usize % n.max(1)
    }
}

const PIECES: &[&[u8]] = &[
    b"a",
    b"b",
    b" ",
    b"xyz",
    b"\r",
    b"\n",
    b"\r\n",
    b"\0",
    b"\x7f",
    b"\x08",
    b"\x01",
    b"\x02",
    b"\x03",
    b"\x04",
    b"\x05",
    b"\x06",
    b"\x0b",
    b"\x0c",
    b"\x0e",
    b"\x10",
    b"\x15",
    b"\x17",
    b"\t",
    b"\x1b",
    b"[",
    b"O",
    b"~",
    b";",
    b"1",
    b"3",
    b"5",
    b"200",
    b"\x1b[A",
    b"\x1b[B",
    b"\x1b[C",
    b"\x1b[D",
    b"\x1b[H",
    b"\x1b[F",
    b"\x1b[3~",
    b"\x1b[1;5C",
    b"\x1bOA",
    b"\x1bb",
    b"\x1bf",
    b"\x1bd",
    b"\x1b\x7f",
    b"\xc3",
    b"\xa9",
    b"\xe6\xbc\xa2",
    b"\xf0\x9f\x98\x80",
    b"\xcc\x81",
    b"\xff",
    b"\xe2\x80\x8b",
    b"\xc2\x9b",
    b"\x1b[200~pasted\r\nlines\x1b[201~",
];

const PROMPTS: &[&str] = &[
    "",
    "> ",
    "\x1b[32mHP 100>\x1b[0m ",
    "漢字> ",
    "a very long prompt text >",
];

#[test]
fn sweep_every_byte() {
    for b in 0..=255u8 {
        let mut ed = LineEditor::new(16, 4);
        let mut term = Term::new(80);
        for _ in 0..3 {
            let (o, _) = feed(&mut ed, &[b]);
            term.apply(o.as_bytes());
            assert_consistent(&ed, &term);
        }
        let (o, _) = feed(&mut ed, &[b'a', b, b'b', b, b]);
        term.apply(o.as_bytes());
        assert_consistent(&ed, &term);
        assert!(ed.buffer().len() <= 16);
    }
    let all: Vec<u8> = (0..=255u8).chain((0..=255u8).rev()).collect();
    let mut ed = LineEditor::new(64, 4);
    let (o, _) = feed(&mut ed, &all);
    let mut term = Term::new(80);
    term.apply(o.as_bytes());
    assert_consistent(&ed, &term);
}

#[test]
fn sweep_random_sequences() {
    let mut rng = Lcg(0x5eed_1234_abcd_0001);
    for round in 0..150 {
        let max_line = [0, 1, 3, 8, 40, 300][round % 6];
        let mut ed = LineEditor::new(max_line, 5);
        let mut term = Term::new(80);
        let mut input = Vec::new();
        for _ in 0..rng.below(200) {
            input.extend_from_slice(PIECES[rng.below(PIECES.len())]);
        }
        let mut i = 0;
        while i < input.len() {
            let n = 1 + rng.below(12);
            let chunk = &input[i..(i + n).min(input.len())];
            i += n;
            let mut out = Vec::new();
            let mut ev = Vec::new();
            ed.feed(chunk, &mut out, &mut ev);
            term.apply(&out);
            out.clear();
            match rng.below(30) {
                0 => ed.set_hidden(!ed.hidden),
                1 => ed.print_above("n\r\n", &mut out),
                2 => ed.set_prompt(PROMPTS[rng.below(PROMPTS.len())], &mut out),
                3 => {
                    let cols = [0u16, 1, 2, 3, 5, 12, 20, 80][rng.below(8)];
                    term.resize(usize::from(if cols == 0 { 80 } else { cols }).max(2));
                    ed.set_width(cols, &mut out);
                }
                _ => {}
            }
            term.apply(&out);
            if !ed.dirty {
                assert_consistent(&ed, &term);
            }
            assert!(ed.buffer().len() <= max_line);
            assert!(ed.buffer().is_char_boundary(ed.cursor));
            assert!(ed.history.len() <= 5);
        }
    }
}

#[test]
fn hidden_mode_never_leaks_input() {
    let mut rng = Lcg(42);
    let mut ed = LineEditor::new(20, 5);
    ed.set_hidden(true);
    for _ in 0..500 {
        let piece = PIECES[rng.below(PIECES.len())];
        let (o, _) = feed(&mut ed, piece);
        let rest = o
            .replace("\r\n", "")
            .replace("^C", "")
            .replace("\x1b[H\x1b[2J", "")
            .replace('\x07', "");
        assert_eq!(rest, "", "hidden mode wrote {o:?}");
    }
}

#[test]
fn big_paste_is_one_write() {
    let mut ed = LineEditor::new(4096, 5);
    let paste = "x".repeat(10_000);
    let (o, ev) = feed(&mut ed, paste.as_bytes());
    assert_eq!(ev, vec![EditEvent::TooLong { limit: 4096 }]);
    assert_eq!(ed.buffer().len(), 4096);
    let bells = o.bytes().filter(|&b| b == 7).count();
    assert_eq!(bells, 1);
    let mut term = Term::new(80);
    term.apply(o.as_bytes());
    assert_consistent(&ed, &term);
}
