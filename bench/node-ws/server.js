// Baseline for the benchmark: the classic few-line `ws` room signaling server (join → ready,
// offer/answer/candidate relayed to the other member), with a try/catch around JSON.parse.
const WebSocket = require("ws");

const port = Number(process.env.PORT || process.argv[2] || 8080);
const wss = new WebSocket.Server({ host: "127.0.0.1", port });
const rooms = new Map();

wss.on("connection", (ws) => {
  ws.on("message", (message) => {
    let data;
    try {
      data = JSON.parse(message);
    } catch (e) {
      return;
    }
    const { type, room } = data;
    if (typeof room !== "string") return;
    if (type === "join") {
      let members = rooms.get(room);
      if (!members) rooms.set(room, (members = []));
      members.push(ws);
      ws.room = room;
      if (members.length === 2) {
        const ready = JSON.stringify({ type: "ready", room });
        members.forEach((s) => s.send(ready));
      }
    } else if (type === "offer" || type === "answer" || type === "candidate") {
      const members = rooms.get(room) || [];
      const text = message.toString();
      members.forEach((s) => {
        if (s !== ws && s.readyState === WebSocket.OPEN) s.send(text);
      });
    }
  });
  ws.on("close", () => {
    const members = rooms.get(ws.room);
    if (!members) return;
    const left = members.filter((s) => s !== ws);
    if (left.length === 0) rooms.delete(ws.room);
    else rooms.set(ws.room, left);
  });
});

wss.on("listening", () => console.log(`listening ${port}`));
