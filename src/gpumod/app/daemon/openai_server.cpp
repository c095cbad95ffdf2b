#include "gpumod/app/daemon/openai_server.hpp"

#include <httplib.h>

#include <atomic>
#include <charconv>
#include <condition_variable>
#include <deque>
#include <map>
#include <mutex>
#include <nlohmann/json.hpp>
#include <set>
#include <thread>

#include "gpumod/app/daemon/request_log.hpp"
#include "gpumod/engine/engine.hpp"
#include "gpumod/engine/model_routes.hpp"
#include "gpumod/engine/on_demand.hpp"
#include "gpumod/engine/request_metrics.hpp"
#include "gpumod/infra/http/client.hpp"
#include "gpumod/infra/http/listen.hpp"
#include "gpumod/util/strings.hpp"

namespace gpumod::app {

using nlohmann::json;
using Clock = std::chrono::steady_clock;
using std::chrono::duration_cast;
using std::chrono::milliseconds;

namespace {

constexpr std::size_t k_max_headers = 100;
constexpr std::size_t k_pipe_high_water = 1u << 20;  // bytes buffered toward a slow client
constexpr std::size_t k_tail_bytes = 16u * 1024u;    // the end of a stream, for its usage
constexpr int k_pool_threads = 128;

// The routes answered by the body's `model`.
const std::vector<std::string> k_model_routed_posts = {
    "/v1/chat/completions", "/v1/completions", "/v1/embeddings", "/v1/rerank", "/rerank",
    "/v1/reranking",        "/reranking",      "/v1/responses",  "/v1/messages",
    "/v1/messages/count_tokens", "/completion", "/infill"};

std::int64_t now_epoch_ms() {
  return duration_cast<milliseconds>(std::chrono::system_clock::now().time_since_epoch()).count();
}

json openai_error(int status, const std::string& message) {
  std::string type = "invalid_request_error";
  std::string code;
  switch (status) {
    case 401: type = "authentication_error"; code = "invalid_api_key"; break;
    case 404: code = "model_not_found"; break;
    case 413: code = "request_too_large"; break;
    case 429: type = "rate_limit_error"; code = "rate_limit_exceeded"; break;
    case 431: code = "headers_too_large"; break;
    case 502: type = "server_error"; code = "upstream_failed"; break;
    case 503: type = "server_error"; code = "model_unavailable"; break;
    case 504: type = "server_error"; code = "timeout"; break;
    default:
      if (status >= 500) type = "server_error";
  }
  return json{{"error", {{"message", message}, {"type", type}, {"param", nullptr},
                         {"code", code.empty() ? json(nullptr) : json(code)}}}};
}

int status_for(engine::DemandRefusal r) {
  switch (r) {
    case engine::DemandRefusal::queue_full:
    case engine::DemandRefusal::too_many: return 429;
    case engine::DemandRefusal::no_fit:
    case engine::DemandRefusal::failed: return 503;
    case engine::DemandRefusal::timeout: return 504;
    case engine::DemandRefusal::cancelled: return 499;
  }
  return 503;
}

int status_for(util::ErrorCode c) {
  switch (c) {
    case util::ErrorCode::invalid_argument: return 400;
    case util::ErrorCode::not_found: return 404;
    default: return 500;
  }
}

// Constant-time comparison of a presented key with every configured one.
bool key_matches(std::string_view presented, const std::vector<std::string>& keys) {
  unsigned ok = 0;
  for (const auto& k : keys) {
    unsigned diff = static_cast<unsigned>(presented.size() ^ k.size());
    for (std::size_t i = 0; i < k.size(); ++i) {
      const unsigned char a = i < presented.size() ? static_cast<unsigned char>(presented[i]) : 0;
      diff |= a ^ static_cast<unsigned char>(k[i]);
    }
    ok |= static_cast<unsigned>(diff == 0);
  }
  return ok != 0;
}

// usage.prompt_tokens / completion_tokens (Anthropic: input_tokens / output_tokens) of a JSON text.
void read_usage(const json& j, infra::state::RequestRecord& rec) {
  const json* usage = nullptr;
  if (j.is_object()) {
    if (auto it = j.find("usage"); it != j.end() && it->is_object()) usage = &*it;
    else if (auto r = j.find("response"); r != j.end() && r->is_object()) {
      if (auto u = r->find("usage"); u != r->end() && u->is_object()) usage = &*u;
    }
  }
  if (usage == nullptr) return;
  for (const auto& [key, field] : {std::pair{"prompt_tokens", &rec.prompt_tokens}, std::pair{"input_tokens", &rec.prompt_tokens},
                                   std::pair{"completion_tokens", &rec.completion_tokens},
                                   std::pair{"output_tokens", &rec.completion_tokens}}) {
    if (auto it = usage->find(key); it != usage->end() && it->is_number_integer()) *field = it->get<std::int64_t>();
  }
}

// The token counts of a JSON answer, found without parsing all of it (an answer can be large):
// the numbers after the last "prompt_tokens"/"input_tokens" and "completion_tokens"/"output_tokens".
void read_usage_fields(std::string_view body, infra::state::RequestRecord& rec) {
  const auto number_after = [&](std::string_view key) -> std::optional<std::int64_t> {
    const auto at = body.rfind(key);
    if (at == std::string_view::npos) return std::nullopt;
    std::size_t i = at + key.size();
    while (i < body.size() && (body[i] == ' ' || body[i] == ':')) ++i;
    std::int64_t v = 0;
    const auto [ptr, ec] = std::from_chars(body.data() + i, body.data() + body.size(), v);
    if (ec != std::errc{} || ptr == body.data() + i) return std::nullopt;
    return v;
  };
  if (body.find("\"usage\"") == std::string_view::npos) return;
  if (auto v = number_after("\"prompt_tokens\"")) rec.prompt_tokens = v;
  else if (auto w = number_after("\"input_tokens\"")) rec.prompt_tokens = w;
  if (auto v = number_after("\"completion_tokens\"")) rec.completion_tokens = v;
  else if (auto w = number_after("\"output_tokens\"")) rec.completion_tokens = w;
}

// The last usage in the tail of an SSE stream.
void read_stream_usage(std::string_view tail, infra::state::RequestRecord& rec) {
  std::size_t pos = 0;
  while (pos < tail.size()) {
    auto end = tail.find('\n', pos);
    if (end == std::string_view::npos) end = tail.size();
    const auto line = tail.substr(pos, end - pos);
    pos = end + 1;
    if (!line.starts_with("data:") || line.find("usage") == std::string_view::npos) continue;
    const json j = json::parse(line.substr(5), nullptr, false);
    if (!j.is_discarded()) read_usage(j, rec);
  }
}

std::string sse_error(int status, const std::string& message) {
  json e = openai_error(status, message);
  e["error"]["status"] = status;
  return "data: " + e.dump() + "\n\n";
}

// One streamed answer: the worker thread (on-demand wait, then the upstream stream) pushes
// pieces; the server's content provider writes them to the client as they come.
struct Pipe {
  std::mutex mu;
  std::condition_variable cv;
  std::deque<std::string> items;
  std::size_t bytes = 0;
  bool done = false;
  bool got_data = false;          // the upstream sent its first piece
  std::atomic<bool> cancelled{false};
  // Set when the upstream answered an error before any data (the handler answers it as is).
  int error_status = 0;
  std::string error_body;
  std::string error_type;
  std::string tail;
  infra::state::RequestRecord record;
  Clock::time_point started;

  void push(std::string piece) {
    std::unique_lock l(mu);
    cv.wait(l, [&] { return bytes < k_pipe_high_water || cancelled.load(); });
    bytes += piece.size();
    items.push_back(std::move(piece));
    cv.notify_all();
  }
};

}  // namespace

struct OpenAiServer::Impl {
  engine::Engine& engine;
  engine::OnDemand& on_demand;
  RequestLog& log;
  core::ServeSettings settings;
  engine::RequestMetrics* metrics = nullptr;
  engine::ModelRoutes routes;
  httplib::Server server;
  std::string host;
  int bound_port = 0;
  std::thread thread;
  std::map<std::string, std::unique_ptr<infra::http::HttpClient>> clients;  // by service id
  std::mutex workers_mu;
  std::condition_variable workers_cv;
  int workers = 0;
  std::vector<std::weak_ptr<Pipe>> pipes;  // streams in flight (cancelled at stop)
  std::int64_t created_s = now_epoch_ms() / 1000;

  Impl(engine::Engine& e, engine::OnDemand& od, RequestLog& l, core::ServeSettings s, engine::RequestMetrics* m)
      : engine(e), on_demand(od), log(l), settings(std::move(s)), metrics(m), routes(*e.config()) {
    infra::http::ClientOptions options;
    options.max_idle_connections = 256;
    // A loopback server whose accept queue is full (llama-server listens with cpp-httplib's
    // backlog of 5) drops the SYN and the kernel sends it again after a second: that is a busy
    // server, not a dead one, so the connect may take that long before it counts as failed.
    options.connect_timeout = std::chrono::milliseconds(3500);
    // llama-server closes a kept-alive connection after a few requests or seconds; a request that
    // met such a closed connection reached no server and is sent again (inference is stateless).
    options.retry_posts_on_closed_connection = true;
    options.max_body_bytes = 256u * 1024u * 1024u;
    for (const auto& svc : e.config()->services) {
      if (svc.port) clients[svc.id] = infra::http::make_tcp_client(e.settings().launch.host, *svc.port, options);
    }
  }

  void answer_error(httplib::Response& res, int status, const std::string& message,
                    infra::state::RequestRecord* rec = nullptr) {
    res.status = status;
    res.set_content(openai_error(status, message).dump(), "application/json");
    if (rec) {
      rec->status = status;
      rec->error = message;
    }
  }

  void finish(infra::state::RequestRecord rec, Clock::time_point started) {
    rec.duration_ms = duration_cast<milliseconds>(Clock::now() - started).count();
    if (metrics) metrics->observe(rec);
    log.add(std::move(rec));
  }

  infra::state::RequestRecord new_record(const httplib::Request& req) {
    infra::state::RequestRecord rec;
    rec.ts_ms = now_epoch_ms();
    rec.method = req.method;
    rec.path = req.path;
    return rec;
  }

  void install() {
    server.new_task_queue = [] { return new httplib::ThreadPool(k_pool_threads); };
    server.set_keep_alive_max_count(100000);
    server.set_keep_alive_timeout(5);
    server.set_tcp_nodelay(true);
    server.set_payload_max_length(settings.max_body_bytes);
    server.set_read_timeout(std::chrono::seconds(60));
    server.set_pre_routing_handler([this](const httplib::Request& req, httplib::Response& res) {
      if (req.headers.size() > k_max_headers) {
        answer_error(res, 431, "more than " + std::to_string(k_max_headers) + " request headers");
        return httplib::Server::HandlerResponse::Handled;
      }
      if (settings.api_keys.empty()) return httplib::Server::HandlerResponse::Unhandled;
      const auto auth = req.get_header_value("Authorization");
      constexpr std::string_view bearer = "Bearer ";
      if (auth.size() > bearer.size() && std::string_view(auth).substr(0, bearer.size()) == bearer &&
          key_matches(std::string_view(auth).substr(bearer.size()), settings.api_keys)) {
        return httplib::Server::HandlerResponse::Unhandled;
      }
      answer_error(res, 401, "missing or wrong API key (Authorization: Bearer KEY)");
      return httplib::Server::HandlerResponse::Handled;
    });
    server.set_error_handler(httplib::Server::HandlerWithResponse([this](const httplib::Request&, httplib::Response& res) {
      if (!res.body.empty()) return httplib::Server::HandlerResponse::Unhandled;
      std::string message = "HTTP " + std::to_string(res.status);
      if (res.status == 404) message = "no such endpoint";
      if (res.status == 413) message = "the request body is larger than " + std::to_string(settings.max_body_bytes) + " bytes";
      res.set_content(openai_error(res.status, message).dump(), "application/json");
      return httplib::Server::HandlerResponse::Handled;
    }));
    server.Get("/health", [](const httplib::Request&, httplib::Response& res) {
      res.set_content(R"({"status":"ok"})", "application/json");
    });
    for (const char* path : {"/v1/models", "/models"}) {
      server.Get(path, [this](const httplib::Request&, httplib::Response& res) { list_models(res); });
    }
    for (const auto& path : k_model_routed_posts) {
      server.Post(path, [this](const httplib::Request& req, httplib::Response& res) { routed_post(req, res); });
    }
    server.Get("/props", [this](const httplib::Request& req, httplib::Response& res) { routed_get(req, res); });
  }

  void list_models(httplib::Response& res) {
    const auto config = engine.config();
    auto status = engine.status();
    std::map<std::string, const engine::ServiceView*> views;
    if (status) {
      for (const auto& v : status->services) views[v.id] = &v;
    }
    json data = json::array();
    for (const auto& r : routes.all()) {
      json g = {{"service", r.service_id}, {"kind", r.kind}, {"upstream_model", r.upstream_model}};
      json modes = json::array();
      for (const auto& m : config->modes) {
        if (std::ranges::find(m.services, r.service_id) != m.services.end()) modes.push_back(m.id);
      }
      g["modes"] = modes;
      json aliases = json::array();
      for (const auto& o : routes.all()) {
        if (o.service_id == r.service_id && o.name != r.name && o.kind != "virtual") aliases.push_back(o.name);
      }
      if (auto it = views.find(r.service_id); it != views.end()) {
        const auto& v = *it->second;
        g["state"] = std::string(core::to_string(v.state));
        g["configured_mib"] = v.configured_mib;
        g["learned_mib"] = v.learned_mib ? json(*v.learned_mib) : json(nullptr);
        g["measured_mib"] = v.measured_mib ? json(*v.measured_mib) : json(nullptr);
      } else {
        g["state"] = "unknown";
      }
      if (const auto* s = config->find_service(r.service_id)) g["pin"] = s->serving.pin;
      data.push_back({{"id", r.name}, {"object", "model"}, {"created", created_s}, {"owned_by", "gpumod"},
                      {"aliases", aliases}, {"gpumod", g}});
    }
    res.set_content(json{{"object", "list"}, {"data", data}}.dump(), "application/json");
  }

  // A lease on the service (waiting for a change when needed), or the answer is an error.
  std::optional<engine::ServeLease> lease_for(const std::string& service, Clock::time_point deadline,
                                              httplib::Response& res, infra::state::RequestRecord& rec) {
    auto fast = on_demand.try_acquire(service);
    if (!fast) {
      answer_error(res, status_for(fast.error().refusal), fast.error().message, &rec);
      res.set_header("Retry-After", std::to_string(fast.error().retry_after.count()));
      return std::nullopt;
    }
    if (*fast) {
      rec.action = "serve";
      return std::move(**fast);
    }
    engine::DemandOutcome outcome;
    auto lease = on_demand.acquire(service, deadline, nullptr, nullptr, &outcome);
    rec.queue_ms = outcome.waited.count();
    rec.action = outcome.action;
    if (!lease) {
      answer_error(res, status_for(lease.error().refusal), lease.error().message, &rec);
      if (lease.error().refusal == engine::DemandRefusal::queue_full || lease.error().refusal == engine::DemandRefusal::too_many) {
        res.set_header("Retry-After", std::to_string(lease.error().retry_after.count()));
      }
      return std::nullopt;
    }
    return std::move(*lease);
  }

  void routed_post(const httplib::Request& req, httplib::Response& res) {
    const auto started = Clock::now();
    auto rec = new_record(req);
    auto routed = routes.route_body(req.body);
    if (!routed) {
      // The model named, for the record, when the body is JSON at all.
      const json j = json::parse(req.body, nullptr, false);
      if (j.is_object() && j.contains("model") && j["model"].is_string()) rec.model = j["model"].get<std::string>().substr(0, 200);
      answer_error(res, status_for(routed.error().code), routed.error().message, &rec);
      return finish(std::move(rec), started);
    }
    rec.model = routed->route.name;
    rec.service_id = routed->route.service_id;
    const auto deadline = started + settings.request_timeout;
    if (routed->stream) return stream_post(req, res, std::move(*routed), std::move(rec), started, deadline);

    for (int attempt = 0; attempt < 2; ++attempt) {
      auto lease = lease_for(rec.service_id, deadline, res, rec);
      if (!lease) return finish(std::move(rec), started);
      auto& client = *clients.at(rec.service_id);
      const auto left = std::max(milliseconds(1), duration_cast<milliseconds>(deadline - Clock::now()));
      auto answer = client.post(req.path, routed->body, "application/json", left);
      if (!answer) {
        // Not listening any more (stopped from outside): ask the engine again, once.
        if (answer.error().code == util::ErrorCode::unavailable && attempt == 0) {
          on_demand.invalidate();
          continue;
        }
        const int status = answer.error().code == util::ErrorCode::timeout ? 504 : 502;
        if (status == 502) on_demand.upstream_failed(rec.service_id);
        answer_error(res, status, "service '" + rec.service_id + "': " + answer.error().message, &rec);
        return finish(std::move(rec), started);
      }
      rec.status = answer->status;
      rec.ttfb_ms = duration_cast<milliseconds>(Clock::now() - started).count();
      res.status = answer->status;
      res.set_content(answer->body, answer->content_type.empty() ? "application/json" : answer->content_type);
      read_usage_fields(answer->body, rec);
      return finish(std::move(rec), started);
    }
  }

  void routed_get(const httplib::Request& req, httplib::Response& res) {
    const auto started = Clock::now();
    auto rec = new_record(req);
    if (!req.has_param("model")) {
      answer_error(res, 400, "this endpoint needs ?model=NAME", &rec);
      return finish(std::move(rec), started);
    }
    rec.model = req.get_param_value("model").substr(0, 200);
    auto route = routes.route_name(rec.model);
    if (!route) {
      answer_error(res, status_for(route.error().code), route.error().message, &rec);
      return finish(std::move(rec), started);
    }
    rec.service_id = route->service_id;
    auto lease = lease_for(rec.service_id, started + settings.request_timeout, res, rec);
    if (!lease) return finish(std::move(rec), started);
    auto answer = clients.at(rec.service_id)->get(req.path + "?model=" + httplib::detail::encode_query_param(route->upstream_model),
                                                  duration_cast<milliseconds>(settings.request_timeout));
    if (!answer) {
      answer_error(res, 502, "service '" + rec.service_id + "': " + answer.error().message, &rec);
      return finish(std::move(rec), started);
    }
    rec.status = answer->status;
    res.status = answer->status;
    res.set_content(answer->body, answer->content_type.empty() ? "application/json" : answer->content_type);
    finish(std::move(rec), started);
  }

  // The worker of one stream: the on-demand wait (when there is no lease yet), then the upstream.
  void stream_worker(std::shared_ptr<Pipe> p, std::optional<engine::ServeLease> lease, std::string path,
                     std::string body, Clock::time_point deadline) {
    auto& rec = p->record;
    const auto service = rec.service_id;
    if (!lease) {
      engine::DemandOutcome outcome;
      auto got = on_demand.acquire(
          service, deadline, [&](std::string_view msg) { p->push(": gpumod: " + std::string(msg) + "\n\n"); },
          [&] { return p->cancelled.load(); }, &outcome);
      rec.queue_ms = outcome.waited.count();
      rec.action = outcome.action;
      if (!got) {
        rec.status = status_for(got.error().refusal);
        rec.error = got.error().message;
        p->push(sse_error(rec.status, got.error().message));
        return end_stream(p);
      }
      lease = std::move(*got);
    }
    const auto on_chunk = [&](std::string_view chunk) {
      if (p->cancelled.load()) return false;
      {
        std::lock_guard l(p->mu);
        if (!p->got_data) {
          p->got_data = true;
          rec.ttfb_ms = duration_cast<milliseconds>(Clock::now() - p->started).count();
        }
        p->tail.append(chunk);
        if (p->tail.size() > 2 * k_tail_bytes) p->tail.erase(0, p->tail.size() - k_tail_bytes);
      }
      p->push(std::string(chunk));
      return !p->cancelled.load();
    };
    auto answer = clients.at(service)->stream_post(path, body, "application/json", on_chunk,
                                                   duration_cast<milliseconds>(settings.request_timeout));
    bool had_data = false;
    {
      std::lock_guard l(p->mu);
      had_data = p->got_data;
    }
    if (p->cancelled.load()) {
      rec.status = 499;
      rec.error = "the client went away; the upstream request was cancelled";
    } else if (!answer) {
      const int status = answer.error().code == util::ErrorCode::timeout ? 504 : 502;
      if (status == 502) on_demand.upstream_failed(service);
      rec.status = status;
      rec.error = "service '" + service + "': " + answer.error().message;
      std::lock_guard l(p->mu);
      if (!had_data) {
        p->error_status = status;
        p->error_body = openai_error(status, rec.error).dump();
      }
    } else if (answer->status < 200 || answer->status >= 300) {
      rec.status = answer->status;
      rec.error = answer->body.substr(0, 500);
      std::lock_guard l(p->mu);
      if (!had_data) {
        p->error_status = answer->status;
        p->error_body = answer->body;
        p->error_type = answer->content_type;
      }
    } else {
      rec.status = 200;
    }
    if (rec.status == 502 && had_data) p->push(sse_error(502, rec.error));
    {
      std::lock_guard l(p->mu);
      read_stream_usage(p->tail, rec);
    }
    lease.reset();
    end_stream(p);
  }

  void end_stream(const std::shared_ptr<Pipe>& p) {
    {
      std::lock_guard l(p->mu);
      p->done = true;
    }
    p->cv.notify_all();
    finish(p->record, p->started);
    {
      std::lock_guard l(workers_mu);
      --workers;
    }
    workers_cv.notify_all();
  }

  void spawn_worker(std::shared_ptr<Pipe> p, std::optional<engine::ServeLease> lease, std::string path,
                    std::string body, Clock::time_point deadline) {
    {
      std::lock_guard l(workers_mu);
      ++workers;
      std::erase_if(pipes, [](const std::weak_ptr<Pipe>& w) { return w.expired(); });
      pipes.push_back(p);
    }
    std::thread([this, p, lease = std::move(lease), path = std::move(path), body = std::move(body), deadline]() mutable {
      stream_worker(std::move(p), std::move(lease), std::move(path), std::move(body), deadline);
    }).detach();
  }

  void stream_post(const httplib::Request& req, httplib::Response& res, engine::RoutedRequest routed,
                   infra::state::RequestRecord rec, Clock::time_point started, Clock::time_point deadline) {
    auto fast = on_demand.try_acquire(rec.service_id);
    if (!fast) {
      answer_error(res, status_for(fast.error().refusal), fast.error().message, &rec);
      res.set_header("Retry-After", std::to_string(fast.error().retry_after.count()));
      return finish(std::move(rec), started);
    }
    auto p = std::make_shared<Pipe>();
    p->started = started;
    const bool serving = fast->has_value();
    if (serving) rec.action = "serve";
    p->record = std::move(rec);
    spawn_worker(p, std::move(*fast), req.path, std::move(routed.body), deadline);
    if (serving) {
      // Its status is the upstream's: wait for the first piece (or the end) before answering.
      std::unique_lock l(p->mu);
      p->cv.wait(l, [&] { return !p->items.empty() || p->done; });
      if (p->error_status != 0 && p->items.empty()) {
        res.status = p->error_status;
        res.set_content(p->error_body, p->error_type.empty() ? "application/json" : p->error_type);
        return;
      }
    }
    res.status = 200;
    res.set_header("Cache-Control", "no-cache");
    const std::string service = p->record.service_id;
    res.set_chunked_content_provider(
        "text/event-stream",
        [p, service](std::size_t, httplib::DataSink& sink) {
          std::unique_lock l(p->mu);
          if (p->cancelled.load()) return false;
          while (p->items.empty() && !p->done && !p->cancelled.load()) {
            const auto interval = p->got_data ? std::chrono::seconds(15) : std::chrono::seconds(2);
            if (p->cv.wait_for(l, interval) == std::cv_status::timeout && p->items.empty() && !p->done) {
              // An SSE comment keeps the connection (and proxies) alive and finds a client gone.
              const auto waited = duration_cast<milliseconds>(Clock::now() - p->started).count();
              const std::string ka = p->got_data ? ": keep-alive\n\n"
                                                 : ": gpumod: waiting for " + service + " (" +
                                                       std::to_string(waited / 1000) + " s)\n\n";
              l.unlock();
              if (!sink.write(ka.data(), ka.size())) {
                p->cancelled = true;
                p->cv.notify_all();
                return false;
              }
              l.lock();
            }
          }
          if (p->items.empty() && !p->done) return false;  // cancelled (the daemon stops)
          if (p->items.empty() && p->done) {
            l.unlock();
            sink.done();
            return true;
          }
          std::string out;
          if (p->items.size() == 1) {
            out = std::move(p->items.front());
          } else {
            for (auto& piece : p->items) out += piece;
          }
          p->items.clear();
          p->bytes = 0;
          l.unlock();
          p->cv.notify_all();
          if (!sink.write(out.data(), out.size())) {
            p->cancelled = true;
            p->cv.notify_all();
            return false;
          }
          return true;
        },
        [p](bool) {
          // The response is over (or the client went away): nothing more is wanted upstream.
          p->cancelled = true;
          p->cv.notify_all();
        });
  }
};

OpenAiServer::OpenAiServer(engine::Engine& engine, engine::OnDemand& on_demand, RequestLog& log,
                           core::ServeSettings settings, engine::RequestMetrics* metrics)
    : m(std::make_unique<Impl>(engine, on_demand, log, std::move(settings), metrics)) {
  m->install();
}

OpenAiServer::~OpenAiServer() { stop(); }

util::Status OpenAiServer::bind(const std::string& listen) {
  const auto colon = listen.rfind(':');
  if (colon == std::string::npos || colon == 0) {
    return util::fail(util::ErrorCode::invalid_argument, "serve.listen: expected HOST:PORT, got '" + listen + "'");
  }
  std::string host = listen.substr(0, colon);
  if (host.size() > 2 && host.front() == '[' && host.back() == ']') host = host.substr(1, host.size() - 2);
  auto port = util::parse_int(listen.substr(colon + 1), 1, 65535, "serve.listen port");
  if (!port) return std::unexpected(port.error());
  if (!infra::http::is_loopback_host(host) && m->settings.api_keys.empty()) {
    return util::fail(util::ErrorCode::invalid_argument, "serve.listen: '" + host +
                                                             "' is not a loopback address; set serve.api_keys first");
  }
  if (!infra::http::bind_server(m->server, host, static_cast<int>(*port))) {
    return util::fail(util::ErrorCode::io, "cannot listen on " + listen + " (address in use or not available)");
  }
  m->host = host;
  m->bound_port = static_cast<int>(*port);
  return {};
}

void OpenAiServer::start() {
  m->thread = std::thread([this] { m->server.listen_after_bind(); });
}

void OpenAiServer::stop() {
  if (!m) return;
  // Streams in flight end first (their content providers hold the server's workers).
  {
    std::lock_guard l(m->workers_mu);
    for (const auto& w : m->pipes) {
      if (auto p = w.lock()) {
        p->cancelled = true;
        p->cv.notify_all();
      }
    }
  }
  m->server.stop();
  if (m->thread.joinable()) m->thread.join();
  std::unique_lock l(m->workers_mu);
  m->workers_cv.wait(l, [&] { return m->workers == 0; });
}

int OpenAiServer::port() const { return m->bound_port; }

httplib::Server& OpenAiServer::server() { return m->server; }

}  // namespace gpumod::app
