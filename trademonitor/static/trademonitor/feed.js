// The live feed: one WebSocket to /ws/live, reconnected with back-off. Frames received are
// acknowledged about twice a second: the server closes a client that falls too far behind,
// and it then reconnects to a fresh snapshot.

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
    let received = 0, acknowledged = 0;
    const acks = setInterval(() => {
      if (received > acknowledged) { send({ type: "ack", frames: received }); acknowledged = received; }
    }, ackEveryMs);
    socket.onopen = () => { backoff = 500; onStatus(true); onOpen(); };
    socket.onmessage = (event) => { received += 1; onMessage(JSON.parse(event.data)); };
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
