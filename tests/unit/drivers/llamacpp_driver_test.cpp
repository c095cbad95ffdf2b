#include "gpumod/drivers/llamacpp_driver.hpp"

#include <gtest/gtest.h>

#include "unit/drivers/fake_http.hpp"

namespace gpumod::drivers {
namespace {

using test::FakeCall;
using test::FakeHttp;
using test::respond;
using Strings = std::vector<std::string>;

core::Service single_service() {
  core::Service s;
  s.id = "chat";
  s.driver = core::DriverKind::llamacpp;
  s.port = 7070;
  s.model_path = "/models/Qwen3-8B-Q4_K_M.gguf";
  return s;
}

core::Service router_service() {
  core::Service s;
  s.id = "coder";
  s.driver = core::DriverKind::llamacpp;
  s.port = 7071;
  s.sleep_mode = core::SleepMode::router;
  s.unit_vars = {{"models_dir", "/models"}, {"models_max", "1"}, {"models_autoload", "false"},
                 {"default_model", "Qwen3-Coder-30B-A3B-Instruct-Q4_K_M"}};
  return s;
}

TEST(LlamaCppLaunch, SingleModelGoldenArgv) {
  auto s = single_service();
  s.unit_vars = {{"ctx_size", "8192"}, {"n_gpu_layers", "40"}, {"flash_attn", "true"},
                 {"cache_type_k", "q8_0"}, {"cache_type_v", "Q8_0"}, {"n_cpu_moe", "4"},
                 {"jinja", "yes"}, {"mmap", "false"}, {"threads", "8"}, {"parallel", "2"},
                 {"alias", "chat"}, {"extra_args", R"(["--temp", "0.7", "--seed", 42])"}};
  s.gpu = "GPU-1234";
  s.env = {{"LLAMA_ARG_X", "1"}};
  auto spec = LlamaCppDriver().launch_spec(s, LaunchOptions{});
  ASSERT_TRUE(spec) << spec.error().message;
  EXPECT_EQ(spec->argv, (Strings{"llama-server", "--model", "/models/Qwen3-8B-Q4_K_M.gguf", "--host", "127.0.0.1",
                                 "--port", "7070", "--ctx-size", "8192", "--n-gpu-layers", "40", "--flash-attn", "on",
                                 "--cache-type-k", "q8_0", "--cache-type-v", "q8_0", "--n-cpu-moe", "4", "--jinja",
                                 "--no-mmap", "--threads", "8", "--parallel", "2", "--alias", "chat", "--fit", "off",
                                 "--temp", "0.7", "--seed", "42"}));
  EXPECT_EQ(spec->env.at("CUDA_VISIBLE_DEVICES"), "GPU-1234");
  EXPECT_EQ(spec->env.at("LLAMA_ARG_X"), "1");
}

TEST(LlamaCppLaunch, SingleModelDefaultsAreExplicit) {
  auto s = single_service();
  s.context_size = 16384;
  s.unit_vars = {{"llamacpp_bin", "/opt/llama/llama-server"}, {"fit", "on"}};
  auto spec = LlamaCppDriver().launch_spec(s, LaunchOptions{});
  ASSERT_TRUE(spec) << spec.error().message;
  EXPECT_EQ(spec->argv, (Strings{"/opt/llama/llama-server", "--model", "/models/Qwen3-8B-Q4_K_M.gguf", "--host",
                                 "127.0.0.1", "--port", "7070", "--ctx-size", "16384", "--n-gpu-layers", "999",
                                 "--fit", "on"}));
}

TEST(LlamaCppLaunch, ContextSizeKeyAcceptedToo) {  // W17: generated presets write ctx_size, others context_size
  auto s = single_service();
  s.unit_vars = {{"context_size", "2048"}};
  auto spec = LlamaCppDriver().launch_spec(s, LaunchOptions{});
  ASSERT_TRUE(spec);
  auto it = std::find(spec->argv.begin(), spec->argv.end(), "--ctx-size");
  ASSERT_NE(it, spec->argv.end());
  EXPECT_EQ(*(it + 1), "2048");
}

TEST(LlamaCppLaunch, RouterGoldenArgv) {
  auto s = router_service();
  s.unit_vars["models_preset"] = "/state/presets.ini";
  auto spec = LlamaCppDriver().launch_spec(s, LaunchOptions{"/bin/ls", "vllm", "127.0.0.1"});
  ASSERT_TRUE(spec) << spec.error().message;
  EXPECT_EQ(spec->argv, (Strings{"/bin/ls", "--models-dir", "/models", "--models-max", "1", "--no-models-autoload",
                                 "--models-preset", "/state/presets.ini", "--host", "127.0.0.1", "--port", "7071",
                                 "--n-gpu-layers", "999", "--fit", "off"}));
}

TEST(LlamaCppLaunch, RejectsBadInput) {
  LlamaCppDriver d;
  auto s = single_service();
  s.port.reset();
  EXPECT_EQ(d.launch_spec(s, {}).error().code, util::ErrorCode::invalid_argument);
  s = single_service();
  s.model_path.clear();
  EXPECT_EQ(d.launch_spec(s, {}).error().code, util::ErrorCode::invalid_argument);
  s = single_service();
  s.unit_vars = {{"cache_type_k", "q3_weird"}};
  EXPECT_NE(d.launch_spec(s, {}).error().message.find("cache_type_k"), std::string::npos);
  s = single_service();
  s.unit_vars = {{"ctx_size", "lots"}};
  EXPECT_FALSE(d.launch_spec(s, {}));
  s = single_service();
  s.unit_vars = {{"extra_args", "[1, {\"a\":2}]"}};
  EXPECT_FALSE(d.launch_spec(s, {}));
  s = single_service();
  EXPECT_FALSE(d.launch_spec(s, LaunchOptions{"llama-server", "vllm", "0.0.0.0"}));
  s = single_service();
  s.sleep_mode = core::SleepMode::router;  // router sleep without a models_dir
  EXPECT_FALSE(d.launch_spec(s, {}));
}

TEST(LlamaCppPresetIni, SharedSettingsInStarSectionAndNoTopLevelKeys) {
  auto a = single_service();
  a.id = "a";
  a.model_path = "/models/alpha.gguf";
  a.unit_vars = {{"ctx_size", "4096"}, {"cache_type_k", "q8_0"}, {"jinja", "true"}};
  auto b = single_service();
  b.id = "b";
  b.model_path = "/models/beta.gguf";
  b.context_size = 32768;
  b.unit_vars = {{"cache_type_k", "q8_0"}, {"alias", "beta-chat"}};
  auto ini = render_models_preset_ini({a, b});
  ASSERT_TRUE(ini) << ini.error().message;
  EXPECT_EQ(*ini,
            "; generated by gpumod: one section per model; no top-level keys\n"
            "[*]\n"
            "n-gpu-layers = 999\n"
            "cache-type-k = q8_0\n"
            "fit = off\n"
            "\n[alpha]\n"
            "model = /models/alpha.gguf\n"
            "ctx-size = 4096\n"
            "jinja = true\n"
            "\n[beta]\n"
            "model = /models/beta.gguf\n"
            "ctx-size = 32768\n"
            "alias = beta-chat\n");
  // No key=value line before the first section header.
  const auto first_section = ini->find('[');
  EXPECT_EQ(ini->substr(0, first_section).find('='), std::string::npos);
}

TEST(LlamaCppPresetIni, RejectsDuplicateAndMissingIds) {
  auto a = single_service();
  auto b = single_service();
  b.id = "other";
  EXPECT_EQ(render_models_preset_ini({a, b}).error().code, util::ErrorCode::conflict);
  auto c = single_service();
  c.model_path = "/models/dir";
  EXPECT_FALSE(render_models_preset_ini({c}));
}

TEST(LlamaCppModelId, Resolution) {
  auto s = router_service();
  EXPECT_EQ(*resolve_model_id(s, {}), "Qwen3-Coder-30B-A3B-Instruct-Q4_K_M");
  s.unit_vars.erase("default_model");
  s.model_path = "/models/gemma-3-4b-it-Q4_K_M.gguf";
  EXPECT_EQ(*resolve_model_id(s, {}), "gemma-3-4b-it-Q4_K_M");
  s.model_path.clear();
  s.model_id = "unsloth/Devstral-Small-2507-GGUF";
  const Strings ids = {"gemma-3-4b-it-Q4_K_M", "Devstral-Small-2507-UD-Q4_K_XL"};
  EXPECT_EQ(*resolve_model_id(s, ids), "Devstral-Small-2507-UD-Q4_K_XL");
  const Strings exact = {"devstral-small-2507", "Devstral-Small-2507-Q8_0"};
  EXPECT_EQ(*resolve_model_id(s, exact), "devstral-small-2507");
  const Strings two = {"Devstral-Small-2507-Q8_0", "Devstral-Small-2507-Q4_K_M"};
  auto ambiguous = resolve_model_id(s, two);
  ASSERT_FALSE(ambiguous);
  EXPECT_NE(ambiguous.error().message.find("default_model"), std::string::npos);
  auto none = resolve_model_id(s, Strings{"gemma"});
  ASSERT_FALSE(none);
  EXPECT_EQ(none.error().code, util::ErrorCode::not_found);
}

TEST(LlamaCppModels, ParsesDictAndListBodies) {
  auto dict = parse_models(R"({"object":"list","data":[
    {"id":"a","status":{"value":"loaded","args":["x"]}},
    {"id":"b","status":{"value":"unloaded","failed":true,"exit_code":1}},
    {"id":"c","status":{"value":"sleeping"}}, {"id":"d"}, 7]})");
  ASSERT_TRUE(dict) << dict.error().message;
  ASSERT_EQ(dict->size(), 4u);
  EXPECT_EQ((*dict)[0].value, "loaded");
  EXPECT_TRUE((*dict)[1].failed);
  EXPECT_EQ((*dict)[1].exit_code, 1);
  EXPECT_EQ((*dict)[2].value, "sleeping");
  EXPECT_EQ((*dict)[3].value, "");
  auto list = parse_models(R"([{"id":"x","status":"loading"}])");
  ASSERT_TRUE(list);
  EXPECT_EQ(list->at(0).value, "loading");
  EXPECT_EQ(parse_models("{not json").error().code, util::ErrorCode::corrupt);
  EXPECT_EQ(parse_models(R"({"data":5})").error().code, util::ErrorCode::corrupt);
}

TEST(LlamaCppBuffers, ParsesRealLookingLog) {
  const std::string log = R"(load_tensors: offloading 22 repeating layers to GPU
load_tensors: offloaded 23/23 layers to GPU
load_tensors:        CUDA0 model buffer size =  1981.50 MiB
load_tensors:   CPU_Mapped model buffer size =   125.25 MiB
llama_context:  CUDA_Host  output buffer size =     0.12 MiB
llama_kv_cache:      CUDA0 KV buffer size =   128.00 MiB
llama_kv_cache: size =  128.00 MiB (  4096 cells,  22 layers,  4/1 seqs), K (f16):   64.00 MiB, V (f16):   64.00 MiB
llama_context:      CUDA0 compute buffer size =    66.62 MiB
llama_context:  CUDA_Host compute buffer size =    12.01 MiB
llama_memory_breakdown_print: | memory breakdown [MiB] | total   free     self   model   context   compute    unaccounted |
llama_memory_breakdown_print: |   - CUDA0 (H100)       | 81079 = 78000 + ( 2176 =  1981 +     128 +      66) + 17592186042766 |
)";
  auto b = parse_buffer_sizes(log);
  ASSERT_EQ(b.devices.size(), 3u);
  EXPECT_DOUBLE_EQ(b.devices.at("CUDA0").model_mib, 1981.50);
  EXPECT_DOUBLE_EQ(b.devices.at("CUDA0").kv_mib, 128.0);
  EXPECT_DOUBLE_EQ(b.devices.at("CUDA0").compute_mib, 66.62);
  EXPECT_DOUBLE_EQ(b.devices.at("CPU_Mapped").model_mib, 125.25);
  EXPECT_DOUBLE_EQ(b.devices.at("CUDA_Host").output_mib, 0.12);
  EXPECT_DOUBLE_EQ(b.devices.at("CUDA_Host").compute_mib, 12.01);
  EXPECT_NEAR(b.gpu_mib(), 1981.50 + 128.0 + 66.62, 1e-9);
  EXPECT_NEAR(b.model_mib, 1981.50 + 125.25, 1e-9);
}

TEST(LlamaCppBuffers, LastLoadWinsAndRouterPrefixesAreRead) {
  const std::string log =
      "[a] load_tensors:        CUDA0 model buffer size =  1000.00 MiB\n"
      "[a] llama_kv_cache:      CUDA0 KV buffer size =   100.00 MiB\n"
      "[b] load_tensors:        CUDA0 model buffer size =  5564.50 MiB\n"
      "[b] llama_kv_cache:      CUDA0 KV buffer size =   448.00 MiB\n"
      "[b] llama_context:      CUDA0 compute buffer size =    68.60 MiB";
  auto b = parse_buffer_sizes(log);
  EXPECT_DOUBLE_EQ(b.model_mib, 5564.50);
  EXPECT_DOUBLE_EQ(b.kv_mib, 448.0);
  EXPECT_DOUBLE_EQ(b.compute_mib, 68.60);
  EXPECT_TRUE(parse_buffer_sizes("nothing here\nbuffer size = x MiB\n").empty());
}

// ---- router logic against a fake server ----

TEST(LlamaCppRouterFake, LoadAlreadyRunningIsSuccessAndUnknownIsNotFound) {
  FakeHttp http([](const FakeCall& c) {
    if (c.path == "/models/load" && c.body.find("ghost") != std::string::npos)
      return respond(404, R"({"error":{"code":404,"message":"File Not Found","type":"not_found_error"}})");
    if (c.path == "/models/load")
      return respond(400, R"({"error":{"code":400,"message":"model is already running","type":"invalid_request_error"}})");
    if (c.path == "/models/unload")
      return respond(400, R"({"error":{"code":400,"message":"model is not running","type":"invalid_request_error"}})");
    if (c.path == "/models") return respond(200, R"({"data":[{"id":"m","status":{"value":"loaded"}}]})");
    return respond(404, "File Not Found");
  });
  DriverContext ctx{http, {}, {}};
  EXPECT_TRUE(load_model(ctx, "m", std::chrono::milliseconds(500)));
  EXPECT_TRUE(unload_model(ctx, "m", std::chrono::milliseconds(500)));
  auto ghost = load_model(ctx, "ghost", std::chrono::milliseconds(500));
  ASSERT_FALSE(ghost);
  EXPECT_EQ(ghost.error().code, util::ErrorCode::not_found);
}

TEST(LlamaCppRouterFake, PollsWithoutSseAndDetectsFailedLoad) {
  int polls = 0;
  FakeHttp http([&](const FakeCall& c) {
    if (c.path == "/models/load") return respond(200, R"({"success":true})");
    if (c.path == "/models") {
      ++polls;
      if (polls < 3) return respond(200, R"({"data":[{"id":"m","status":{"value":"loading"}}]})");
      return respond(200, R"({"data":[{"id":"m","status":{"value":"unloaded","failed":true,"exit_code":3}}]})");
    }
    return respond(404, "");
  });
  DriverContext ctx{http, {}, [](std::size_t) { return Strings{"srv load_model: boom"}; }};
  auto st = load_model(ctx, "m", std::chrono::milliseconds(2000));
  ASSERT_FALSE(st);
  EXPECT_EQ(st.error().code, util::ErrorCode::failed);
  EXPECT_NE(st.error().message.find("exit code 3"), std::string::npos);
  EXPECT_NE(st.error().message.find("log: srv load_model: boom"), std::string::npos);
  EXPECT_EQ(http.count("STREAM", "/models/sse"), 1u);  // tried once, 404: polling from then on
}

TEST(LlamaCppRouterFake, LoadFailsWhenTheRouterProcessDies) {
  bool alive = true;
  FakeHttp http([&](const FakeCall& c) {
    if (c.path == "/models/load") return respond(200, R"({"success":true})");
    if (c.path == "/models") {
      alive = false;
      return respond(200, R"({"data":[{"id":"m","status":{"value":"loading"}}]})");
    }
    return respond(404, "");
  });
  DriverContext ctx{http, [&] { return alive; }, {}};
  auto st = load_model(ctx, "m", std::chrono::seconds(30));
  ASSERT_FALSE(st);
  EXPECT_NE(st.error().message.find("process exited"), std::string::npos);
}

TEST(LlamaCppObserveFake, HealthAndModelPresenceAreSeparate) {
  std::string value = "unloaded";
  bool up = true;
  FakeHttp http([&](const FakeCall& c) {
    if (!up) return test::refused();
    if (c.path == "/health") return respond(200, R"({"status":"ok"})");
    if (c.path == "/models")
      return respond(200, R"({"data":[{"id":"Qwen3-Coder-30B-A3B-Instruct-Q4_K_M","status":{"value":")" + value + R"("}}]})");
    return respond(404, "");
  });
  bool alive = true;
  DriverContext ctx{http, [&] { return alive; }, {}};
  LlamaCppDriver d;
  auto s = router_service();
  auto o = d.observe(s, ctx);
  EXPECT_TRUE(o.healthy);
  EXPECT_EQ(o.state, core::ServiceState::sleeping);
  value = "loading";
  EXPECT_EQ(d.observe(s, ctx).state, core::ServiceState::loading);
  value = "loaded";
  EXPECT_EQ(d.observe(s, ctx).state, core::ServiceState::running);
  up = false;
  o = d.observe(s, ctx);
  EXPECT_FALSE(o.reachable);
  EXPECT_EQ(o.state, core::ServiceState::unhealthy);
  alive = false;
  EXPECT_EQ(d.observe(s, ctx).state, core::ServiceState::stopped);
}

TEST(Readiness, FailsAtOnceWhenTheProcessExits) {
  int probes = 0;
  bool alive = true;
  FakeHttp http([](const FakeCall&) { return test::refused(); });
  DriverContext ctx{http, [&] { return alive; }, [](std::size_t) { return Strings{"fatal: it broke"}; }};
  auto st = Readiness::wait("thing", ctx, std::chrono::seconds(30), [&](std::chrono::milliseconds) {
    if (++probes == 3) alive = false;
    return Readiness::Probe::not_yet("connection refused");
  });
  ASSERT_FALSE(st);
  EXPECT_EQ(probes, 3);
  EXPECT_EQ(st.error().code, util::ErrorCode::failed);
  EXPECT_NE(st.error().message.find("fatal: it broke"), std::string::npos);
}

TEST(Readiness, TimesOutWithTheLastObservation) {
  FakeHttp http([](const FakeCall&) { return test::refused(); });
  DriverContext ctx{http, {}, {}};
  auto st = Readiness::wait("thing", ctx, std::chrono::milliseconds(30),
                            [](std::chrono::milliseconds) { return Readiness::Probe::not_yet("503 loading"); });
  ASSERT_FALSE(st);
  EXPECT_EQ(st.error().code, util::ErrorCode::timeout);
  EXPECT_NE(st.error().message.find("503 loading"), std::string::npos);
}

TEST(Backoff, GrowsFromFiveMsToTheTwentyMsCap) {
  Backoff b;
  const auto first = b.next();
  const auto second = b.next();
  EXPECT_EQ(first, std::chrono::milliseconds(5));
  EXPECT_GT(second, first);
  for (int i = 0; i < 20; ++i) b.next();
  EXPECT_EQ(b.next(), std::chrono::milliseconds(20));
  Backoff custom(std::chrono::milliseconds(10), 2.0, std::chrono::milliseconds(250));
  EXPECT_EQ(custom.next(), std::chrono::milliseconds(10));
  EXPECT_EQ(custom.next(), std::chrono::milliseconds(20));
}

}  // namespace
}  // namespace gpumod::drivers
