// The drill-down's price chart: candles with a volume histogram, price and time axes in
// the viewer's local time, and a crosshair read-out. TradingView's lightweight-charts,
// pinned in package-lock.json and served from this site.

import { CandlestickSeries, createChart, HistogramSeries }
  from "../vendor/lightweight-charts/dist/lightweight-charts.standalone.production.mjs";
import { extend, timeline } from "./candles.js";
import { localMinute, money, NUMBER } from "./format.js";

const css = (name) => getComputedStyle(document.documentElement).getPropertyValue(name).trim();

function colours() {
  return {
    layout: { background: { color: css("--surface") }, textColor: css("--text"), attributionLogo: false },
    grid: { vertLines: { color: css("--grid") }, horzLines: { color: css("--grid") } },
  };
}

/** A chart in `container`, with `legend` showing the candle under the crosshair (or the last). */
export function priceChart(container, legend) {
  const chart = createChart(container, {
    autoSize: true,
    ...colours(),
    // A day of one-minute points fits the pane (the library's least spacing is half a pixel).
    // The axis is the range chosen, so there is nothing to scroll to past either end; with the
    // edges fixed, the library also moves a label at an edge inside rather than cut it.
    timeScale: { timeVisible: true, secondsVisible: false, minBarSpacing: 0.1, fixLeftEdge: true, fixRightEdge: true },
    rightPriceScale: { visible: true, entireTextOnly: true },  // no label cut in half at the top or bottom
  });
  let up = css("--up"), down = css("--down");
  const candleColours = () => ({ upColor: up, downColor: down, wickUpColor: up, wickDownColor: down });
  // The chart plots dollars as numbers; every figure it prints goes through money() from cents.
  const prices = chart.addSeries(CandlestickSeries, { ...candleColours(), borderVisible: false,
    priceFormat: { type: "custom", minMove: 0.01, formatter: (dollars) => money(Math.round(dollars * 100)) } });
  const volume = chart.addSeries(HistogramSeries, { priceFormat: { type: "volume" }, priceScaleId: "volume",
    lastValueVisible: false, priceLineVisible: false });
  chart.priceScale("volume").applyOptions({ scaleMargins: { top: 0.8, bottom: 0 } });
  prices.priceScale().applyOptions({ scaleMargins: { top: 0.1, bottom: 0.25 } });

  let candles = [], points = [], intervalMs = 60_000;
  const timeOf = new Map();  // a point's start (ms) → its time on the axis
  const byTime = new Map();  // a candle's time on the axis → the candle
  const show = (candle) => {
    legend.dataset.start = candle ? String(candle.start) : "";
    legend.dataset.close = candle ? String(candle.close) : "";
    legend.textContent = candle
      ? `${localMinute(candle.start)}  O ${money(candle.open)}  H ${money(candle.high)}  L ${money(candle.low)}` +
        `  C ${money(candle.close)}  V ${NUMBER.format(candle.shares)} shares`
      : "No trades in this range";
  };
  chart.subscribeCrosshairMove((point) => show(byTime.get(point.time) ?? candles[candles.length - 1]));

  const bar = (c) => ({ time: timeOf.get(c.start), open: c.open / 100, high: c.high / 100, low: c.low / 100, close: c.close / 100 });
  const volumeBar = (c) => ({ time: timeOf.get(c.start), value: c.shares, color: `${c.close >= c.open ? up : down}80` });
  const blank = (point) => ({ time: point.time });
  const drawVolume = () => volume.setData(points.map((p) => {
    const candle = byTime.get(p.time);
    return candle ? volumeBar(candle) : blank(p);
  }));
  return {
    chart,
    /** Every candle anew (a load), on the axis of the range [startMs, endMs). */
    set(all, startMs, endMs, interval) {
      candles = all;
      intervalMs = interval;
      points = timeline(startMs, endMs, intervalMs);  // holds every candle: they are read for that range
      timeOf.clear();
      for (const p of points) timeOf.set(p.ms, p.time);
      byTime.clear();
      for (const c of all) if (timeOf.has(c.start)) byTime.set(timeOf.get(c.start), c);
      prices.setData(points.map((p) => (byTime.has(p.time) ? bar(byTime.get(p.time)) : blank(p))));
      drawVolume();
      chart.timeScale().fitContent();
      show(all[all.length - 1]);
    },
    /** The last candle changed or a new one began (a live trade). */
    updateLast() {
      const last = candles[candles.length - 1];
      for (const p of extend(points, last.start, intervalMs)) {  // the range's end has passed: blanks up to it
        timeOf.set(p.ms, p.time);
        prices.update(blank(p));
        volume.update(blank(p));
      }
      if (!timeOf.has(last.start)) return;  // before the range (drawn by the next load)
      byTime.set(timeOf.get(last.start), last);
      // The point exists (a blank where the candle begins): replaced in place, wherever it is.
      prices.update(bar(last), true);
      volume.update(volumeBar(last), true);
      show(last);
    },
    retheme() {
      up = css("--up");
      down = css("--down");
      chart.applyOptions(colours());
      prices.applyOptions(candleColours());
      drawVolume();
    },
    remove() { chart.remove(); },
  };
}
