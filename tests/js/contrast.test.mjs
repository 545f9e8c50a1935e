// WCAG AA (4.5:1 for text) for the colours that carry meaning, in both themes, read from the
// stylesheet itself so a changed colour is checked.
import assert from "node:assert/strict";
import { readFileSync } from "node:fs";
import { test } from "node:test";

const css = readFileSync(new URL("../../trademonitor/static/trademonitor/dashboard.css", import.meta.url), "utf8");

function palette(selector) {
  const block = css.slice(css.indexOf(selector)).match(/\{([^}]*)\}/)[1];
  return Object.fromEntries([...block.matchAll(/--([\w-]+):\s*(#[0-9a-f]{6})/g)].map((m) => [m[1], m[2]]));
}

function luminance(hex) {
  const [r, g, b] = [1, 3, 5].map((i) => parseInt(hex.slice(i, i + 2), 16) / 255)
    .map((c) => (c <= 0.03928 ? c / 12.92 : ((c + 0.055) / 1.055) ** 2.4));
  return 0.2126 * r + 0.7152 * g + 0.0722 * b;
}

export function contrast(a, b) {
  const [x, y] = [luminance(a), luminance(b)].sort((p, q) => q - p);
  return (x + 0.05) / (y + 0.05);
}

const PAIRS = [["up", "surface"], ["down", "surface"], ["up", "flash-up"], ["down", "flash-down"],
  ["text", "flash-up"], ["text", "flash-down"], ["text", "surface"], ["muted", "bg"], ["text", "detail-bg"],
  ["up", "detail-bg"], ["down", "detail-bg"], ["band-text", "band"]];

for (const [theme, selector] of [["light", ':root, :root[data-theme="light"]'], ["dark", ':root[data-theme="dark"]']]) {
  test(`${theme} theme: every meaningful pair is at least 4.5:1`, () => {
    const colours = palette(selector);
    for (const [fg, bg] of PAIRS) {
      assert.ok(colours[fg] && colours[bg], `${fg} and ${bg} are defined`);
      const ratio = contrast(colours[fg], colours[bg]);
      assert.ok(ratio >= 4.5, `${theme}: ${fg} ${colours[fg]} on ${bg} ${colours[bg]} is ${ratio.toFixed(2)}:1`);
    }
  });
}

test("the contrast formula matches WCAG's examples", () => {
  assert.equal(contrast("#000000", "#ffffff").toFixed(0), "21");
  assert.equal(contrast("#777777", "#ffffff").toFixed(2), "4.48");
});
