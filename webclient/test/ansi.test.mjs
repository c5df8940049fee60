// Unit tests for webclient/ansi.js: `node --test webclient/test/`
import { test } from "node:test";
import assert from "node:assert/strict";
import {
  AnsiParser, applySgr, defaultStyle, parseAnsi, stripAnsi, styleToCss, toFragment, xterm256,
} from "../ansi.js";

const E = "\x1b";
const style = (over) => ({ ...defaultStyle(), ...over });
/** Segments as [text, {non-default style keys}] pairs, for short assertions. */
function simple(segments) {
  const d = defaultStyle();
  return segments.map(({ text, style }) => {
    const diff = {};
    for (const k in style) if (style[k] !== d[k]) diff[k] = style[k];
    return [text, diff];
  });
}

test("plain text is one default segment", () => {
  assert.deepEqual(parseAnsi("hello world"), [{ text: "hello world", style: defaultStyle() }]);
  assert.deepEqual(parseAnsi(""), []);
});

test("basic, bright and default colours", () => {
  assert.deepEqual(simple(parseAnsi(`a${E}[31mb${E}[42mc${E}[39md${E}[49me`)), [
    ["a", {}], ["b", { fg: 1 }], ["c", { fg: 1, bg: 2 }], ["d", { bg: 2 }], ["e", {}],
  ]);
  assert.deepEqual(simple(parseAnsi(`${E}[97mX${E}[103mY`)), [
    ["X", { fg: 15 }], ["Y", { fg: 15, bg: 11 }],
  ]);
  assert.deepEqual(simple(parseAnsi(`${E}[30;47mZ`)), [["Z", { fg: 0, bg: 7 }]]);
});

test("256-colour and truecolour, semicolon and colon forms", () => {
  assert.deepEqual(simple(parseAnsi(`${E}[38;5;196mA${E}[48;5;21mB`)), [
    ["A", { fg: 196 }], ["B", { fg: 196, bg: 21 }],
  ]);
  assert.deepEqual(simple(parseAnsi(`${E}[38;2;255;128;0mC${E}[48;2;1;2;3mD`)), [
    ["C", { fg: "#ff8000" }], ["D", { fg: "#ff8000", bg: "#010203" }],
  ]);
  assert.deepEqual(simple(parseAnsi(`${E}[38:5:82mE${E}[38:2::10:20:30mF${E}[48:2:1:1:1mG`)), [
    ["E", { fg: 82 }], ["F", { fg: "#0a141e" }], ["G", { fg: "#0a141e", bg: "#010101" }],
  ]);
  // Parameters after an extended colour still apply.
  assert.deepEqual(simple(parseAnsi(`${E}[38;5;10;1;4mH`)), [
    ["H", { fg: 10, bold: true, underline: true }],
  ]);
  // Out-of-range components are clamped (rgb) or ignored (palette index).
  assert.deepEqual(simple(parseAnsi(`${E}[38;2;300;0;0mI${E}[0;38;5;999mJ`)), [
    ["I", { fg: "#ff0000" }], ["J", {}],
  ]);
});

test("xterm256 palette values", () => {
  assert.equal(xterm256(16), "#000000");
  assert.equal(xterm256(196), "#ff0000");
  assert.equal(xterm256(231), "#ffffff");
  assert.equal(xterm256(232), "#080808");
  assert.equal(xterm256(255), "#eeeeee");
});

test("attributes on and off", () => {
  const s = applySgr(defaultStyle(), "1;2;3;4;7;9");
  assert.deepEqual(s, style({ bold: true, dim: true, italic: true, underline: true, inverse: true, strike: true }));
  assert.deepEqual(applySgr(s, "22;23;24;27;29"), defaultStyle());
  assert.deepEqual(applySgr(s, "0"), defaultStyle());
  assert.deepEqual(applySgr(s, ""), defaultStyle(), "ESC[m is a reset");
  assert.deepEqual(applySgr(defaultStyle(), "4:3"), style({ underline: true }));
  assert.deepEqual(applySgr(style({ underline: true }), "4:0"), defaultStyle());
  assert.deepEqual(applySgr(defaultStyle(), "5;8;53"), defaultStyle(), "blink etc. ignored");
});

test("reset in the middle of a sequence and empty parameters", () => {
  assert.deepEqual(simple(parseAnsi(`${E}[1;31mA${E}[0;32mB${E}[;1mC`)), [
    ["A", { bold: true, fg: 1 }], ["B", { fg: 2 }], ["C", { bold: true }],
  ]);
});

test("state carries across feed() calls until reset", () => {
  const p = new AnsiParser();
  assert.deepEqual(simple(p.feed(`${E}[33mline one`)), [["line one", { fg: 3 }]]);
  assert.deepEqual(simple(p.feed("line two")), [["line two", { fg: 3 }]]);
  assert.deepEqual(simple(p.feed(`x${E}[0my`)), [["x", { fg: 3 }], ["y", {}]]);
  assert.deepEqual(simple(p.feed("z")), [["z", {}]]);
  p.feed(`${E}[4m`);
  p.reset();
  assert.deepEqual(simple(p.feed("w")), [["w", {}]]);
});

test("segments do not share style objects", () => {
  const p = new AnsiParser();
  const [a] = p.feed(`${E}[31ma`);
  p.feed(`${E}[0m`);
  assert.equal(a.style.fg, 1);
});

test("adjacent text with the same style is merged", () => {
  assert.deepEqual(simple(parseAnsi(`a${E}[31m${E}[0mb${E}[2Kc`)), [["abc", {}]]);
});

test("non-SGR escapes are dropped", () => {
  assert.equal(stripAnsi(`a${E}[2Jb${E}[10;20Hc${E}[?25ld${E}[1Ae`), "abcde");
  assert.equal(stripAnsi(`${E}]0;window title\x07x${E}]8;;http://x\x1b\\link${E}]8;;${E}\\`), "xlink");
  assert.equal(stripAnsi(`${E}Pq#0;1${E}\\y${E}_apc${E}\\z`), "yz");
  assert.equal(stripAnsi(`${E}(B${E}7${E}8${E}=${E}c.`), ".");
  assert.equal(stripAnsi("\x9b31mq"), "q", "8-bit CSI");
  // A private-mode or intermediate "m" is not an SGR.
  assert.deepEqual(simple(parseAnsi(`${E}[>4;2m${E}[1 mt`)), [["t", {}]]);
});

test("stray control characters are dropped, newline and tab kept", () => {
  assert.equal(stripAnsi("a\x00b\x07c\x08d\re\r\nf\tg\x7fh\x85i"), "abcde\nf\tghi");
  assert.equal(stripAnsi("one\r\ntwo\nthree"), "one\ntwo\nthree");
});

test("malformed and truncated sequences", () => {
  assert.equal(stripAnsi(`abc${E}`), "abc", "lone ESC at the end");
  assert.equal(stripAnsi(`abc${E}[31;4`), "abc", "CSI cut short");
  assert.equal(stripAnsi(`abc${E}]0;title never ends`), "abc", "OSC cut short");
  assert.equal(stripAnsi(`a${E}[31\nb`), "a\nb", "a newline breaks a CSI and is kept");
  assert.equal(stripAnsi(`a${E}[3${E}[32mb`), "ab", "ESC inside a CSI starts a new one");
  assert.deepEqual(simple(parseAnsi(`a${E}[3${E}[32mb`)), [["a", {}], ["b", { fg: 2 }]]);
  assert.equal(stripAnsi(`x${E}]0;t${E}[1my`), "xy", "ESC aborts an OSC");
  assert.equal(stripAnsi(`${E}${E}[0mq`), "q");
  assert.equal(stripAnsi(`${E}[38;5mr${E}[38;2;1;2ms${E}[38;7;1mt`), "rst");
  assert.deepEqual(simple(parseAnsi(`${E}[38;5mr`)), [["r", {}]]);
  assert.equal(stripAnsi(`é${E}éx`), "ééx");
});

test("truncated sequence does not leak into the next block", () => {
  const p = new AnsiParser();
  assert.deepEqual(simple(p.feed(`a${E}[3`)), [["a", {}]]);
  assert.deepEqual(simple(p.feed("1mb")), [["1mb", {}]]);
});

test("markup-like text stays literal", () => {
  const text = `<b>bold?</b> & <script>alert(1)</script> &amp;`;
  assert.deepEqual(parseAnsi(text), [{ text, style: defaultStyle() }]);
});

test("styleToCss: classes for the 16 colours, inline for the rest", () => {
  assert.deepEqual(styleToCss(defaultStyle()), { classes: [], color: null, background: null });
  assert.deepEqual(styleToCss(style({ fg: 1, bg: 12 })), { classes: ["fg-1", "bg-12"], color: null, background: null });
  assert.deepEqual(styleToCss(style({ fg: 196, bg: "#102030" })), { classes: [], color: "#ff0000", background: "#102030" });
  assert.deepEqual(styleToCss(style({ bold: true, dim: true, italic: true, underline: true, strike: true })).classes,
    ["b", "dim", "i", "u", "s"]);
});

test("styleToCss: bold brightens basic colours only", () => {
  assert.deepEqual(styleToCss(style({ fg: 1, bold: true })).classes, ["fg-9", "b"]);
  assert.deepEqual(styleToCss(style({ fg: 9, bold: true })).classes, ["fg-9", "b"]);
  assert.deepEqual(styleToCss(style({ fg: 100, bold: true })).color, xterm256(100));
});

test("styleToCss: inverse swaps colours, defaults included", () => {
  assert.deepEqual(styleToCss(style({ inverse: true })).classes, ["fg-rev", "bg-rev"]);
  assert.deepEqual(styleToCss(style({ inverse: true, fg: 2 })).classes, ["fg-rev", "bg-2"]);
  assert.deepEqual(styleToCss(style({ inverse: true, fg: "#abcdef", bg: 4 })),
    { classes: ["fg-4"], color: null, background: "#abcdef" });
});

// A tiny stand-in for the DOM: just what toFragment uses.
class FakeNode {
  constructor(tag) { this.tag = tag; this.children = []; this.style = {}; this.className = ""; this._text = ""; }
  appendChild(n) { this.children.push(n); return n; }
  set textContent(t) { this._text = String(t); this.children = []; }
  get textContent() { return this._text + this.children.map((c) => c.textContent).join(""); }
  set innerHTML(_) { throw new Error("innerHTML must not be used"); }
}
const fakeDoc = {
  createDocumentFragment: () => new FakeNode("#fragment"),
  createElement: (tag) => new FakeNode(tag),
  createTextNode: (t) => { const n = new FakeNode("#text"); n.textContent = t; return n; },
};

test("toFragment builds text nodes and styled spans with textContent", () => {
  const frag = toFragment(parseAnsi(`plain <i>${E}[1;31mred${E}[38;5;200;48;2;0;0;255m pink`), fakeDoc);
  assert.equal(frag.textContent, "plain <i>red pink");
  const [a, b, c] = frag.children;
  assert.equal(a.tag, "#text");
  assert.equal(a.textContent, "plain <i>");
  assert.equal(b.tag, "span");
  assert.equal(b.className, "fg-9 b");
  assert.equal(c.tag, "span");
  assert.equal(c.className, "b");
  assert.equal(c.style.color, xterm256(200));
  assert.equal(c.style.backgroundColor, "#0000ff");
});
