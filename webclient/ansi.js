// ANSI terminal output -> styled text, for the Portcullis web page.
//
// The parser is pure (no DOM): AnsiParser.feed(text) returns segments
// [{text, style}], where style is a plain object. SGR state (colours, bold,
// ...) carries over from one feed() to the next, as on a terminal, until a
// reset. Every other escape sequence (cursor moves, OSC titles, ...) and every
// control character except "\n" and "\t" is dropped, never shown. The text is
// never interpreted as HTML: toFragment() builds nodes with textContent.
//
// Colours in a style: null (the default), a palette index 0-255, or a CSS
// "#rrggbb" string for truecolour. Indices 0-15 become CSS classes (fg-N /
// bg-N) so the stylesheet can theme them; the others become inline colours.

const ESC = "\x1b";

/** The style of text before any SGR, and after a reset. */
export function defaultStyle() {
  return {
    fg: null, bg: null, bold: false, dim: false, italic: false,
    underline: false, inverse: false, strike: false,
  };
}

function sameStyle(a, b) {
  for (const k in a) if (a[k] !== b[k]) return false;
  return true;
}

/** xterm's 256-colour palette entry n (16-255) as "#rrggbb". */
export function xterm256(n) {
  let r, g, b;
  if (n < 16) throw new RangeError("0-15 are themed by the stylesheet");
  if (n < 232) {
    const levels = [0, 95, 135, 175, 215, 255];
    n -= 16;
    r = levels[Math.floor(n / 36)];
    g = levels[Math.floor(n / 6) % 6];
    b = levels[n % 6];
  } else {
    r = g = b = 8 + 10 * (n - 232);
  }
  return hex(r, g, b);
}

function hex(r, g, b) {
  return "#" + [r, g, b].map((v) => v.toString(16).padStart(2, "0")).join("");
}

/**
 * Reads an extended colour (38/48 ...) from params starting at i, which holds
 * the 38 or 48. Returns [colour or undefined if invalid, index of last param used].
 * Accepts "38;5;n", "38;2;r;g;b" and the colon forms "38:5:n", "38:2:r:g:b",
 * "38:2:cs:r:g:b" (the colon form arrives as one param split into sub-params).
 */
function extendedColour(params, i) {
  const p = params[i];
  if (p.sub) {
    // Colon form: everything is inside this one parameter.
    const s = p.sub;
    if (s[1] === 5) return [s.length > 2 && s[2] <= 255 ? s[2] : undefined, i];
    if (s[1] === 2) {
      const rgb = s.length >= 6 ? s.slice(3, 6) : s.slice(2, 5);
      return [rgb.length === 3 ? hex(...rgb.map((v) => Math.min(v, 255))) : undefined, i];
    }
    return [undefined, i];
  }
  const num = (k) => (k < params.length && !params[k].sub ? params[k].n : undefined);
  const kind = num(i + 1);
  if (kind === 5) {
    const n = num(i + 2);
    return [n !== undefined && n <= 255 ? n : undefined, Math.min(i + 2, params.length - 1)];
  }
  if (kind === 2) {
    const rgb = [num(i + 2), num(i + 3), num(i + 4)];
    const ok = rgb.every((v) => v !== undefined);
    return [ok ? hex(...rgb.map((v) => Math.min(v, 255))) : undefined,
      Math.min(i + 4, params.length - 1)];
  }
  // Unknown or missing kind: give up on the rest of this sequence.
  return [undefined, params.length - 1];
}

/**
 * Applies the SGR parameter string (what stands between "ESC[" and "m") to a
 * copy of style and returns the copy. Empty parameters count as 0.
 */
export function applySgr(style, paramText) {
  const s = { ...style };
  const params = paramText.split(";").map((t) => {
    if (t.includes(":")) return { sub: t.split(":").map((x) => parseInt(x || "0", 10)) };
    return { n: t === "" ? 0 : parseInt(t, 10) };
  });
  for (let i = 0; i < params.length; i++) {
    const p = params[i];
    const n = p.sub ? p.sub[0] : p.n;
    if (n === 38 || n === 48) {
      const [colour, last] = extendedColour(params, i);
      if (colour !== undefined) s[n === 38 ? "fg" : "bg"] = colour;
      i = last;
      continue;
    }
    if (p.sub && n === 4) { s.underline = p.sub[1] !== 0; continue; } // 4:0 .. 4:5
    if (n === 0) Object.assign(s, defaultStyle());
    else if (n === 1) s.bold = true;
    else if (n === 2) s.dim = true;
    else if (n === 3) s.italic = true;
    else if (n === 4 || n === 21) s.underline = true;
    else if (n === 7) s.inverse = true;
    else if (n === 9) s.strike = true;
    else if (n === 22) s.bold = s.dim = false;
    else if (n === 23) s.italic = false;
    else if (n === 24) s.underline = false;
    else if (n === 27) s.inverse = false;
    else if (n === 29) s.strike = false;
    else if (n >= 30 && n <= 37) s.fg = n - 30;
    else if (n === 39) s.fg = null;
    else if (n >= 40 && n <= 47) s.bg = n - 40;
    else if (n === 49) s.bg = null;
    else if (n >= 90 && n <= 97) s.fg = n - 90 + 8;
    else if (n >= 100 && n <= 107) s.bg = n - 100 + 8;
    // Anything else (blink, conceal, fonts, overline, NaN...) is ignored.
  }
  return s;
}

// Code points that are dropped from text: C0 controls except \t and \n, DEL,
// and C1 controls (\x9b, the 8-bit CSI, is handled as a CSI below).
const DROP = /[\x00-\x08\x0b-\x1f\x7f-\x9f]/g;

/** A stateful ANSI parser: one per output stream. */
export class AnsiParser {
  constructor() {
    this.style = defaultStyle();
  }

  /** Forgets the SGR state (back to the default style). */
  reset() {
    this.style = defaultStyle();
  }

  /** Parses one block of text; returns [{text, style}], adjacent same-style text merged. */
  feed(text) {
    const out = [];
    const emit = (t) => {
      t = t.replace(/\r\n/g, "\n").replace(DROP, "");
      if (!t) return;
      const last = out[out.length - 1];
      if (last && sameStyle(last.style, this.style)) last.text += t;
      else out.push({ text: t, style: { ...this.style } });
    };
    let i = 0;
    let plainStart = 0;
    while (i < text.length) {
      const c = text[i];
      if (c !== ESC && c !== "\x9b") { i++; continue; }
      emit(text.slice(plainStart, i));
      i = this.#escape(text, i);
      plainStart = i;
    }
    emit(text.slice(plainStart));
    return out;
  }

  // Consumes the escape sequence starting at text[i]; returns the index after
  // it. A sequence cut short by the end of the block, or broken by a control
  // character, is dropped (the control character is then dealt with as text).
  #escape(text, i) {
    let j;
    if (text[i] === "\x9b") j = i + 1;
    else {
      const next = text[i + 1];
      if (next === undefined) return i + 1;
      if (next === "[") j = i + 2;
      else if ("]PX^_".includes(next)) return skipString(text, i + 2);
      else {
        // Other escapes: ESC, intermediates 0x20-0x2f, one final 0x30-0x7e.
        j = i + 1;
        while (j < text.length && text[j] >= " " && text[j] <= "/") j++;
        if (j < text.length && text[j] >= "0" && text[j] <= "~") return j + 1;
        return j;
      }
    }
    // CSI: parameters 0x30-0x3f, intermediates 0x20-0x2f, final 0x40-0x7e.
    const start = j;
    while (j < text.length && text[j] >= "0" && text[j] <= "?") j++;
    const params = text.slice(start, j);
    let intermediates = false;
    while (j < text.length && text[j] >= " " && text[j] <= "/") { j++; intermediates = true; }
    if (j >= text.length) return j; // truncated: drop it
    const final = text[j];
    if (final < "@" || final > "~") return j; // broken by a non-CSI character
    if (final === "m" && !intermediates && /^[0-9;:]*$/.test(params)) {
      this.style = applySgr(this.style, params);
    }
    return j + 1;
  }
}

// Skips an OSC/DCS/SOS/PM/APC string, ended by BEL or ESC \ (or the block's end).
function skipString(text, j) {
  while (j < text.length) {
    if (text[j] === "\x07") return j + 1;
    // ESC \ ends it; any other ESC aborts it and starts a new sequence.
    if (text[j] === ESC) return text[j + 1] === "\\" ? j + 2 : j;
    j++;
  }
  return j;
}

/** Parses text on its own (fresh state); convenient for prompts and tests. */
export function parseAnsi(text) {
  return new AnsiParser().feed(text);
}

/** Removes every escape sequence and control character; returns the plain text. */
export function stripAnsi(text) {
  return parseAnsi(text).map((s) => s.text).join("");
}

/**
 * How a style is shown: {classes, color, background}. classes are stylesheet
 * classes; color/background are CSS colours for 256-colour and truecolour
 * values (null when a class does it or for the default).
 */
export function styleToCss(style) {
  let { fg, bg } = style;
  // Bold brightens the 8 basic foreground colours, as on most terminals (and
  // as the portal's "|R = bold red" markup expects).
  if (style.bold && typeof fg === "number" && fg < 8) fg += 8;
  const classes = [];
  let fgDefault = "", bgDefault = "";
  if (style.inverse) {
    [fg, bg] = [bg, fg];
    // The default colours swap too: "rev" classes use the page's own colours.
    if (fg === null) fgDefault = "fg-rev";
    if (bg === null) bgDefault = "bg-rev";
  }
  let color = null, background = null;
  if (typeof fg === "number" && fg < 16) classes.push("fg-" + fg);
  else if (fg !== null) color = typeof fg === "number" ? xterm256(fg) : fg;
  else if (fgDefault) classes.push(fgDefault);
  if (typeof bg === "number" && bg < 16) classes.push("bg-" + bg);
  else if (bg !== null) background = typeof bg === "number" ? xterm256(bg) : bg;
  else if (bgDefault) classes.push(bgDefault);
  if (style.bold) classes.push("b");
  if (style.dim) classes.push("dim");
  if (style.italic) classes.push("i");
  if (style.underline) classes.push("u");
  if (style.strike) classes.push("s");
  return { classes, color, background };
}

/**
 * Builds nodes for segments: a text node for default-styled text, a <span>
 * otherwise. Returns a DocumentFragment. doc is the document to build with.
 */
export function toFragment(segments, doc = globalThis.document) {
  const frag = doc.createDocumentFragment();
  for (const seg of segments) {
    const css = styleToCss(seg.style);
    if (!css.classes.length && !css.color && !css.background) {
      frag.appendChild(doc.createTextNode(seg.text));
      continue;
    }
    const span = doc.createElement("span");
    if (css.classes.length) span.className = css.classes.join(" ");
    if (css.color) span.style.color = css.color;
    if (css.background) span.style.backgroundColor = css.background;
    span.textContent = seg.text;
    frag.appendChild(span);
  }
  return frag;
}
