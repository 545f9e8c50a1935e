// The live feed: one WebSocket to /ws/live, reconnected with back-off. Frames received are
// acknowledged about twice a second: the server closes a client that falls too far behind,
// and the page then reconnects to a fresh snapshot.

export function connect({ onOpen, onMessage, onStatus, ackEveryMs }) {
  let backoff = 500;
  const feed = { socket: null, send };

  function send(message) {
    if (feed.socket?.readyState === WebSocket.OPEN) feed.socket.send(JSON.stringify(message));
  }

  function open() {
    const scheme = location.protocol === "https:" ? "wss" : "ws";
    const socket = new WebSocket(`${scheme}://${location.host}/ws/live`);
    feed.socket = socket;
    // Acknowledged as frames are read (a background tab's timers are throttled to once a
    // minute, its message events are not), and by a timer when the feed falls quiet.
    let received = 0, acknowledged = 0, acknowledgedAt = 0;
    const acknowledge = () => {
      if (received === acknowledged) return;
      send({ type: "ack", frames: received });
      acknowledged = received;
      acknowledgedAt = performance.now();
    };
    const acks = setInterval(acknowledge, ackEveryMs);
    socket.onopen = () => { backoff = 500; onStatus(true); onOpen(); };
    socket.onmessage = (event) => {
      received += 1;
      onMessage(JSON.parse(event.data));
      if (performance.now() - acknowledgedAt >= ackEveryMs) acknowledge();
    };
    socket.onclose = () => {
      clearInterval(acks);
      onStatus(false);
      setTimeout(open, backoff);
      backoff = Math.min(backoff * 2, 10000);
    };
  }

  open();
  return feed;
}
