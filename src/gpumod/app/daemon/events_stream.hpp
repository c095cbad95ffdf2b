// GET /v1/events/stream: the event log as Server-Sent Events, the same events `gpumod events -f`
// prints. Each event is `id: <event id>` + `data: <JSON>` ({"id","ts_ms","kind","service","mode",
// "message"}). A client that reconnects with `Last-Event-ID: N` (or `?after=N`) gets every event
// after N first; without either the stream starts with the next event. It is event-driven (the
// EventSignal wakes it), with a comment line every 15 s so dead connections are noticed.
// Thread-safety: the handler runs on a server worker thread, one per open stream.
#pragma once

namespace httplib {
class Server;
}
namespace gpumod::infra::state {
class StateStore;
}

namespace gpumod::app {

class EventSignal;

void install_events_stream_routes(httplib::Server& server, infra::state::StateStore& store, EventSignal& events);

}  // namespace gpumod::app
