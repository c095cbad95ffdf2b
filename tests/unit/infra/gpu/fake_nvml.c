/* A fake libnvidia-ml for the NVML probe tests, compiled by nvml_probe_test.cpp at run time
   (cc -shared). Two GPUs; memory figures of a real idle H100; GPU 0 runs two compute processes
   (the test's own pid, and one whose memory is NVML_VALUE_NOT_AVAILABLE). Only the functions
   gpumod uses; _v3 of the process query. Test controls: fake_nvml_set_hang_ms (memory queries
   sleep that long), fake_nvml_init_count (nvmlInit_v2 minus nvmlShutdown calls). */
#include <stdio.h>
#include <string.h>
#include <unistd.h>

typedef struct { unsigned long long total, free, used; } fake_memory;
typedef struct {
  unsigned int pid;
  unsigned long long usedGpuMemory;
  unsigned int gpuInstanceId, computeInstanceId;
} fake_process;

static int hang_ms = 0;
static int inits = 0;

void fake_nvml_set_hang_ms(int ms) { __atomic_store_n(&hang_ms, ms, __ATOMIC_SEQ_CST); }
int fake_nvml_init_count(void) { return __atomic_load_n(&inits, __ATOMIC_SEQ_CST); }

int nvmlInit_v2(void) { __atomic_add_fetch(&inits, 1, __ATOMIC_SEQ_CST); return 0; }
int nvmlShutdown(void) { __atomic_sub_fetch(&inits, 1, __ATOMIC_SEQ_CST); return 0; }
const char* nvmlErrorString(int rc) { return rc == 2 ? "Invalid Argument" : "Unknown Error"; }
int nvmlSystemGetDriverVersion(char* buf, unsigned len) {
  snprintf(buf, len, "%s", "580.159.04");
  return 0;
}
int nvmlDeviceGetCount_v2(unsigned* count) { *count = 2; return 0; }
int nvmlDeviceGetHandleByIndex_v2(unsigned index, void** handle) {
  if (index >= 2) return 2;
  *handle = (void*)(unsigned long)(index + 1);
  return 0;
}
static unsigned long dev(void* handle) { return (unsigned long)handle - 1; }
int nvmlDeviceGetName(void* h, char* buf, unsigned len) {
  snprintf(buf, len, "Fake H100 %lu", dev(h));
  return 0;
}
int nvmlDeviceGetUUID(void* h, char* buf, unsigned len) {
  snprintf(buf, len, "GPU-fake-%lu", dev(h));
  return 0;
}
int nvmlDeviceGetMemoryInfo(void* h, fake_memory* m) {
  int ms = __atomic_load_n(&hang_ms, __ATOMIC_SEQ_CST);
  if (ms > 0) usleep((useconds_t)ms * 1000);
  (void)h;
  m->total = 85520809984ULL;           /* 81559 MiB and a bit */
  m->free = 85017755648ULL + 123456;   /* 81079 MiB and a bit */
  m->used = m->total - m->free;        /* includes the 480 MiB the driver reserves */
  return 0;
}
int nvmlDeviceGetComputeRunningProcesses_v3(void* h, unsigned* count, fake_process* infos) {
  const unsigned n = dev(h) == 0 ? 2 : 0;
  if (*count < n || (n > 0 && !infos)) {
    *count = n;
    return 7; /* NVML_ERROR_INSUFFICIENT_SIZE */
  }
  if (n > 0) {
    infos[0].pid = (unsigned)getpid();
    infos[0].usedGpuMemory = 2566ULL << 20;
    infos[0].gpuInstanceId = infos[0].computeInstanceId = 0xFFFFFFFFu;
    infos[1].pid = 4000000;
    infos[1].usedGpuMemory = ~0ULL; /* NVML_VALUE_NOT_AVAILABLE */
    infos[1].gpuInstanceId = infos[1].computeInstanceId = 0xFFFFFFFFu;
  }
  *count = n;
  return 0;
}
