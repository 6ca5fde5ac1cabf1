/*
 * A scripted stand-in for libnvidia-ml.so.1 and libcuda.so.1, for the tests and benchmarks of the NVML backend.
 *
 * One shared object exports both the NVML and the CUDA driver symbols the backend binds, with the real export names
 * (nvmlInit_v2, nvmlDeviceGetPciInfo_v3, cuDeviceTotalMem_v2, ...), the real struct layouts and the real error codes.
 * Built twice by tests/Exo.Gpu.Clustering.Tests/native/FakeNativeGpu.targets:
 *   libexofakegpu.so      every symbol
 *   libexofakegpu_old.so  -DFAKE_OLD_DRIVER: an older driver without nvmlDeviceGetMemoryInfo_v2,
 *                         nvmlDeviceGetCurrentClocksEventReasons and nvmlDeviceGetTemperatureV
 *                         (and without the _v3 process lists and the calls that size their entries)
 *                         (NativeLibrary.GetExport sees real exports only, hence a separate build).
 *
 * Scripting, through exported control functions (fake_*) or, for processes that cannot call them (the AOT CLI, the
 * validation script), a text file named by EXO_FAKE_GPU_CONFIG and read at the first nvmlInit_v2/cuInit:
 *   devices N                       N default devices (fake_reset)
 *   set DEV KEY VALUE               fake_set_i64 / fake_set_str (DEV -1 = global)
 *   cuda_order I,J,...              CUDA ordinal k is NVML device I_k (fewer entries hide devices from CUDA)
 *   inject FUNCTION DEV CODE AFTER TIMES
 *   event DEV TYPE DATA             queue an event for nvmlEventSetWait_v2
 *   wait_result CODE                queue a bare return code for nvmlEventSetWait_v2
 *   process DEV KIND PID MEMORY     a process on DEV (KIND 1 compute, 2 graphics, 3 both; MEMORY in bytes, -1 = N/A)
 * Every function takes one global mutex, so the control functions may be called while the backend runs.
 */
#include <ctype.h>
#include <errno.h>
#include <pthread.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#define EXPORT __attribute__((visibility("default")))

/* ---- NVML and CUDA types, as in nvml.h and cuda.h ---- */
typedef int nvmlReturn_t;
enum
{
    NVML_SUCCESS = 0,
    NVML_ERROR_UNINITIALIZED = 1,
    NVML_ERROR_INVALID_ARGUMENT = 2,
    NVML_ERROR_NOT_SUPPORTED = 3,
    NVML_ERROR_NO_PERMISSION = 4,
    NVML_ERROR_INSUFFICIENT_SIZE = 7,
    NVML_ERROR_TIMEOUT = 10,
    NVML_ERROR_GPU_IS_LOST = 15,
    NVML_ERROR_ARGUMENT_VERSION_MISMATCH = 25,
    NVML_ERROR_UNKNOWN = 999,
};

typedef struct fake_device* nvmlDevice_t;
typedef struct fake_event_set* nvmlEventSet_t;

typedef struct
{
    char busIdLegacy[16];
    unsigned int domain;
    unsigned int bus;
    unsigned int device;
    unsigned int pciDeviceId;
    unsigned int pciSubSystemId;
    char busId[32];
} nvmlPciInfo_t;

typedef struct
{
    unsigned long long total;
    unsigned long long free;
    unsigned long long used;
} nvmlMemory_t;

typedef struct
{
    unsigned int version;
    unsigned long long total;
    unsigned long long reserved;
    unsigned long long free;
    unsigned long long used;
} nvmlMemory_v2_t;

typedef struct
{
    unsigned int gpu;
    unsigned int memory;
} nvmlUtilization_t;

typedef struct
{
    nvmlDevice_t device;
    unsigned long long eventType;
    unsigned long long eventData;
    unsigned int gpuInstanceId;
    unsigned int computeInstanceId;
} nvmlEventData_t;

typedef struct
{
    unsigned int version;
    int sensorType;
    int temperature;
} nvmlTemperature_v1_t;

/* nvmlProcessInfo_t = nvmlProcessInfo_v2_t (24 bytes), the entry of the _v3 process lists. */
typedef struct
{
    unsigned int pid;
    unsigned long long usedGpuMemory;
    unsigned int gpuInstanceId;
    unsigned int computeInstanceId;
} nvmlProcessInfo_t;

#define NVML_STRUCT_VERSION(size, ver) ((unsigned int)(size) | ((unsigned int)(ver) << 24))
#define NVML_MEMORY_V2 NVML_STRUCT_VERSION(sizeof(nvmlMemory_v2_t), 2)
#define NVML_TEMPERATURE_V1 NVML_STRUCT_VERSION(sizeof(nvmlTemperature_v1_t), 1)

typedef int CUresult;
typedef int CUdevice;
typedef void* CUcontext;
typedef struct
{
    char bytes[16];
} CUuuid;
enum
{
    CUDA_SUCCESS = 0,
    CUDA_ERROR_INVALID_VALUE = 1,
    CUDA_ERROR_NOT_INITIALIZED = 3,
    CUDA_ERROR_NO_DEVICE = 100,
    CUDA_ERROR_INVALID_DEVICE = 101,
    CUDA_ERROR_NOT_SUPPORTED = 801,
};

/* ---- the functions the fake counts and can fail on demand ---- */
#define FAKE_FUNCTIONS(X)                        \
    X(nvmlInit_v2)                               \
    X(nvmlShutdown)                              \
    X(nvmlSystemGetDriverVersion)                \
    X(nvmlSystemGetCudaDriverVersion)            \
    X(nvmlDeviceGetCount_v2)                     \
    X(nvmlDeviceGetHandleByIndex_v2)             \
    X(nvmlDeviceGetUUID)                         \
    X(nvmlDeviceGetName)                         \
    X(nvmlDeviceGetPciInfo_v3)                   \
    X(nvmlDeviceGetMemoryInfo)                   \
    X(nvmlDeviceGetMemoryInfo_v2)                \
    X(nvmlDeviceGetUtilizationRates)             \
    X(nvmlDeviceGetTemperature)                  \
    X(nvmlDeviceGetTemperatureV)                 \
    X(nvmlDeviceGetPowerUsage)                   \
    X(nvmlDeviceGetEnforcedPowerLimit)           \
    X(nvmlDeviceGetClockInfo)                    \
    X(nvmlDeviceGetMaxClockInfo)                 \
    X(nvmlDeviceGetCurrentClocksEventReasons)    \
    X(nvmlDeviceGetCurrentClocksThrottleReasons) \
    X(nvmlDeviceGetTotalEccErrors)               \
    X(nvmlDeviceGetCudaComputeCapability)        \
    X(nvmlDeviceGetMigMode)                      \
    X(nvmlDeviceGetMemoryBusWidth)               \
    X(nvmlEventSetCreate)                        \
    X(nvmlEventSetFree)                          \
    X(nvmlDeviceGetSupportedEventTypes)          \
    X(nvmlDeviceRegisterEvents)                  \
    X(nvmlEventSetWait_v2)                       \
    X(cuInit)                                    \
    X(cuDriverGetVersion)                        \
    X(cuDeviceGetCount)                          \
    X(cuDeviceGet)                               \
    X(cuDeviceGetAttribute)                      \
    X(cuDeviceGetUuid)                           \
    X(cuDeviceGetUuid_v2)                        \
    X(cuDeviceGetPCIBusId)                       \
    X(cuDeviceTotalMem_v2)                       \
    X(cuDevicePrimaryCtxRetain)                  \
    X(cuCtxCreate_v2)                            \
    X(nvmlDeviceGetComputeRunningProcesses_v3)   \
    X(nvmlDeviceGetGraphicsRunningProcesses_v3)

enum
{
#define X(name) FN_##name,
    FAKE_FUNCTIONS(X)
#undef X
        FN_COUNT
};

static const char* const fn_names[FN_COUNT] = {
#define X(name) #name,
    FAKE_FUNCTIONS(X)
#undef X
};

/* ---- state ---- */
#define MAX_DEVICES 64
#define MAX_SERIES 64
#define MAX_INJECTIONS 64
#define MAX_QUEUE 256
#define DEVICE_MAGIC 0x4E564D4Cu
#define EVENT_SET_MAGIC 0x45565354u
#define NO_DEVICE (-2)
#define MAX_PROCESSES 32

struct fake_device
{
    unsigned int magic;
    int index;
    char uuid[96];
    char cuda_uuid[96]; /* empty: the same as uuid; else what CUDA reports (as a MIG-mode device does) */
    char name[96];
    unsigned int pci_domain, pci_bus, pci_device, pci_function, pci_device_id, pci_subsystem_id;
    unsigned long long memory_total, memory_used, memory_reserved;
    unsigned int utilization_gpu[MAX_SERIES];
    int utilization_gpu_count, utilization_gpu_next;
    unsigned int utilization_memory;
    int temperature;
    unsigned int power_mw, power_limit_mw;
    unsigned int clock_sm, clock_sm_max, clock_mem_max, bus_width;
    unsigned long long clock_reasons, ecc_corrected, ecc_uncorrected, supported_events;
    int cc_major, cc_minor, sm_count;
    unsigned int mig_current, mig_pending;
    /* processes (fake_add_process): pid, used memory (ULLONG_MAX = not available), kind (1 compute, 2 graphics) */
    int process_count;
    unsigned int process_pid[MAX_PROCESSES];
    unsigned long long process_memory[MAX_PROCESSES];
    int process_kind[MAX_PROCESSES];
    /* what real drivers do in MIG mode (fake_reality_*): */
    int mig_privileged;                   /* 0: an unprivileged container, parent memory answers NO_PERMISSION */
    unsigned long long mig_slice_memory;  /* CUDA's view: the MIG device's memory; 0 = memory_total / 7 */
    int mig_slice_sm;                     /* CUDA's view: the MIG device's SM count; 0 = sm_count / 7 */
};

struct fake_event_set
{
    unsigned int magic;
    unsigned long long registered[MAX_DEVICES];
};

struct injection
{
    int function; /* -1: every function */
    int device;   /* -1: every call */
    int code;
    int after;    /* matching calls that still succeed */
    int times;    /* failures left; -1: forever */
};

struct queued
{
    int is_event;
    int code;
    int device;
    unsigned long long type, data;
};

static pthread_mutex_t lock = PTHREAD_MUTEX_INITIALIZER;
static pthread_cond_t queue_changed = PTHREAD_COND_INITIALIZER;
static int configured;
static int device_count;
static struct fake_device devices[MAX_DEVICES];
static int cuda_order[MAX_DEVICES];
static int cuda_count;
static char driver_version[80];
static int cuda_version;
static int init_count;
static int cuda_initialized;
static int live_event_sets;
static unsigned long long calls[FN_COUNT];
static struct injection injections[MAX_INJECTIONS];
static int injection_count;
static struct queued queue[MAX_QUEUE];
static int queue_head, queue_length;
static pthread_cond_t unblocked = PTHREAD_COND_INITIALIZER;
static int blocked_function = -2; /* -2: nothing blocks */
static int blocked_device = -1;
static int blocked_waiters;
static int cuda_reachable = 1; /* 0: the CUDA driver cannot reach the kernel driver (cuInit answers NO_DEVICE) */

static void reset_locked(int count)
{
    memset(devices, 0, sizeof devices);
    memset(calls, 0, sizeof calls);
    injection_count = 0;
    queue_head = queue_length = 0;
    blocked_function = -2;
    pthread_cond_broadcast(&unblocked);
    if (count < 0)
    {
        count = 0;
    }
    if (count > MAX_DEVICES)
    {
        count = MAX_DEVICES;
    }
    device_count = count;
    cuda_count = count;
    snprintf(driver_version, sizeof driver_version, "%s", "550.54.15");
    cuda_version = 12040;
    for (int i = 0; i < count; i++)
    {
        struct fake_device* d = &devices[i];
        d->magic = DEVICE_MAGIC;
        d->index = i;
        snprintf(d->uuid, sizeof d->uuid, "GPU-%08x-1111-2222-3333-%012x", 0xa0000000u + (unsigned)i, 0x100u + (unsigned)i);
        snprintf(d->name, sizeof d->name, "%s", "NVIDIA H100 80GB HBM3");
        d->pci_bus = 0x18u + (unsigned)i * 0x10u;
        d->pci_device_id = 0x233010DEu;
        d->pci_subsystem_id = 0x16C110DEu;
        d->memory_total = 85520809984ull;
        d->memory_used = 1ull << 30;
        d->memory_reserved = 512ull << 20;
        d->utilization_gpu_count = 1;
        d->temperature = 35;
        d->power_mw = 70000;
        d->power_limit_mw = 700000;
        d->clock_sm = 1980;
        d->clock_sm_max = 1980;
        d->clock_mem_max = 2619;
        d->bus_width = 5120;
        d->supported_events = 0x1 | 0x2 | 0x8;
        d->cc_major = 9;
        d->cc_minor = 0;
        d->sm_count = 132;
        cuda_order[i] = i;
    }
    cuda_reachable = 1;
    configured = 1;
}

static int set_i64_locked(int device, const char* key, long long value);
static nvmlReturn_t fake_reality_mig_memory(const struct fake_device* d);
static int fake_reality_cuda_sm(const struct fake_device* d);
static unsigned long long fake_reality_cuda_total(const struct fake_device* d);
static void fake_reality_cuda_uuid(const struct fake_device* d, int ordinal, CUuuid* uuid);
static int fake_reality_set_locked(struct fake_device* d, const char* key, long long value);
static int set_str_locked(int device, const char* key, const char* value);
static int inject_locked(const char* function, int device, int code, int after, int times);
static void push_locked(int is_event, int code, int device, unsigned long long type, unsigned long long data);
static int add_process_locked(int device, int kind, unsigned int pid, unsigned long long memory);

static int is_integer(const char* s)
{
    if (*s == '-' || *s == '+')
    {
        s++;
    }
    if (*s == '\0')
    {
        return 0;
    }
    if (s[0] == '0' && (s[1] == 'x' || s[1] == 'X'))
    {
        s += 2;
        for (; *s; s++)
        {
            if (!isxdigit((unsigned char)*s))
            {
                return 0;
            }
        }
        return 1;
    }
    for (; *s; s++)
    {
        if (!isdigit((unsigned char)*s))
        {
            return 0;
        }
    }
    return 1;
}

/* Reads EXO_FAKE_GPU_CONFIG once, unless the control functions configured the fake already. */
static void configure_from_file_locked(void)
{
    if (configured)
    {
        return;
    }
    reset_locked(2);
    const char* path = getenv("EXO_FAKE_GPU_CONFIG");
    if (path == NULL || *path == '\0')
    {
        return;
    }
    FILE* f = fopen(path, "r");
    if (f == NULL)
    {
        return;
    }
    char line[512];
    while (fgets(line, sizeof line, f) != NULL)
    {
        char word[64], key[64], value[256];
        int dev, a, b, c;
        unsigned long long type, data;
        line[strcspn(line, "\r\n")] = '\0';
        if (sscanf(line, "%63s", word) != 1 || word[0] == '#')
        {
            continue;
        }
        if (strcmp(word, "devices") == 0 && sscanf(line, "%*s %d", &a) == 1)
        {
            reset_locked(a);
        }
        else if (strcmp(word, "set") == 0 && sscanf(line, "%*s %d %63s %255[^\n]", &dev, key, value) == 3)
        {
            if (is_integer(value))
            {
                set_i64_locked(dev, key, strtoll(value, NULL, 0));
            }
            else
            {
                set_str_locked(dev, key, value);
            }
        }
        else if (strcmp(word, "cuda_order") == 0 && sscanf(line, "%*s %255s", value) == 1)
        {
            cuda_count = 0;
            for (char* t = strtok(value, ","); t != NULL && cuda_count < MAX_DEVICES; t = strtok(NULL, ","))
            {
                cuda_order[cuda_count++] = atoi(t);
            }
        }
        else if (strcmp(word, "inject") == 0 && sscanf(line, "%*s %63s %d %d %d %d", key, &dev, &a, &b, &c) == 5)
        {
            inject_locked(key, dev, a, b, c);
        }
        else if (strcmp(word, "event") == 0 && sscanf(line, "%*s %d %llu %llu", &dev, &type, &data) == 3)
        {
            push_locked(1, 0, dev, type, data);
        }
        else if (strcmp(word, "wait_result") == 0 && sscanf(line, "%*s %d", &a) == 1)
        {
            push_locked(0, a, NO_DEVICE, 0, 0);
        }
        else if (strcmp(word, "process") == 0 && sscanf(line, "%*s %d %d %d %255s", &dev, &a, &b, value) == 4)
        {
            add_process_locked(dev, a, (unsigned int)b, (unsigned long long)strtoll(value, NULL, 0));
        }
    }
    fclose(f);
}

/* Counts the call, holds it while fake_block says so (a hung driver call), and returns the injected error for it, or 0.
 * Holds the lock (released while held). */
static int enter_locked(int function, int device)
{
    calls[function]++;
    while (blocked_function != -2 && (blocked_function == -1 || blocked_function == function)
           && (blocked_device == -1 || blocked_device == device))
    {
        blocked_waiters++;
        pthread_cond_wait(&unblocked, &lock);
        blocked_waiters--;
    }
    for (int i = 0; i < injection_count; i++)
    {
        struct injection* in = &injections[i];
        if ((in->function != -1 && in->function != function) || (in->device != -1 && in->device != device) || in->times == 0)
        {
            continue;
        }
        if (in->after > 0)
        {
            in->after--;
            continue;
        }
        if (in->times > 0)
        {
            in->times--;
        }
        return in->code;
    }
    return 0;
}

#define ENTER(function, device)                       \
    pthread_mutex_lock(&lock);                        \
    configure_from_file_locked();                     \
    int injected_ = enter_locked(FN_##function, (device)); \
    if (injected_ != 0)                               \
    {                                                 \
        pthread_mutex_unlock(&lock);                  \
        return injected_;                             \
    }

#define LEAVE(code)               \
    do                            \
    {                             \
        pthread_mutex_unlock(&lock); \
        return (code);            \
    } while (0)

static int device_of(nvmlDevice_t device)
{
    if (device == NULL || device < &devices[0] || device >= &devices[MAX_DEVICES] || device->magic != DEVICE_MAGIC)
    {
        return NO_DEVICE;
    }
    return device->index;
}

#define ENTER_DEVICE(function, handle, out)                \
    pthread_mutex_lock(&lock);                             \
    configure_from_file_locked();                          \
    int index_ = device_of(handle);                        \
    int injected_ = enter_locked(FN_##function, index_);   \
    if (injected_ != 0)                                    \
    {                                                      \
        pthread_mutex_unlock(&lock);                       \
        return injected_;                                  \
    }                                                      \
    if (index_ < 0 || init_count == 0)                     \
    {                                                      \
        pthread_mutex_unlock(&lock);                       \
        return init_count == 0 ? NVML_ERROR_UNINITIALIZED : NVML_ERROR_INVALID_ARGUMENT; \
    }                                                      \
    if ((out) == NULL)                                     \
    {                                                      \
        pthread_mutex_unlock(&lock);                       \
        return NVML_ERROR_INVALID_ARGUMENT;                \
    }                                                      \
    struct fake_device* d = &devices[index_];

static nvmlReturn_t copy_string(char* target, unsigned int length, const char* source)
{
    size_t needed = strlen(source) + 1;
    if (target == NULL || length < needed)
    {
        return NVML_ERROR_INSUFFICIENT_SIZE;
    }
    memcpy(target, source, needed);
    return NVML_SUCCESS;
}

/* ---- NVML ---- */
EXPORT nvmlReturn_t nvmlInit_v2(void)
{
    ENTER(nvmlInit_v2, NO_DEVICE);
    init_count++;
    LEAVE(NVML_SUCCESS);
}

EXPORT nvmlReturn_t nvmlShutdown(void)
{
    ENTER(nvmlShutdown, NO_DEVICE);
    if (init_count == 0)
    {
        LEAVE(NVML_ERROR_UNINITIALIZED);
    }
    init_count--;
    LEAVE(NVML_SUCCESS);
}

EXPORT const char* nvmlErrorString(nvmlReturn_t result)
{
    switch (result)
    {
    case 0: return "Success";
    case 1: return "Uninitialized";
    case 2: return "Invalid Argument";
    case 3: return "Not Supported";
    case 4: return "Insufficient Permissions";
    case 7: return "Insufficient Size";
    case 9: return "Driver Not Loaded";
    case 10: return "Timeout";
    case 15: return "GPU is lost";
    case 25: return "Argument version mismatch";
    default: return "Unknown Error";
    }
}

EXPORT nvmlReturn_t nvmlSystemGetDriverVersion(char* version, unsigned int length)
{
    ENTER(nvmlSystemGetDriverVersion, NO_DEVICE);
    LEAVE(copy_string(version, length, driver_version));
}

EXPORT nvmlReturn_t nvmlSystemGetCudaDriverVersion(int* version)
{
    ENTER(nvmlSystemGetCudaDriverVersion, NO_DEVICE);
    if (version == NULL)
    {
        LEAVE(NVML_ERROR_INVALID_ARGUMENT);
    }
    *version = cuda_version;
    LEAVE(NVML_SUCCESS);
}

EXPORT nvmlReturn_t nvmlDeviceGetCount_v2(unsigned int* count)
{
    ENTER(nvmlDeviceGetCount_v2, NO_DEVICE);
    if (init_count == 0)
    {
        LEAVE(NVML_ERROR_UNINITIALIZED);
    }
    if (count == NULL)
    {
        LEAVE(NVML_ERROR_INVALID_ARGUMENT);
    }
    *count = (unsigned int)device_count;
    LEAVE(NVML_SUCCESS);
}

EXPORT nvmlReturn_t nvmlDeviceGetHandleByIndex_v2(unsigned int index, nvmlDevice_t* device)
{
    ENTER(nvmlDeviceGetHandleByIndex_v2, (int)index);
    if (init_count == 0)
    {
        LEAVE(NVML_ERROR_UNINITIALIZED);
    }
    if (device == NULL || index >= (unsigned int)device_count)
    {
        LEAVE(NVML_ERROR_INVALID_ARGUMENT);
    }
    *device = &devices[index];
    LEAVE(NVML_SUCCESS);
}

EXPORT nvmlReturn_t nvmlDeviceGetUUID(nvmlDevice_t device, char* uuid, unsigned int length)
{
    ENTER_DEVICE(nvmlDeviceGetUUID, device, uuid);
    LEAVE(copy_string(uuid, length, d->uuid));
}

EXPORT nvmlReturn_t nvmlDeviceGetName(nvmlDevice_t device, char* name, unsigned int length)
{
    ENTER_DEVICE(nvmlDeviceGetName, device, name);
    LEAVE(copy_string(name, length, d->name));
}

EXPORT nvmlReturn_t nvmlDeviceGetPciInfo_v3(nvmlDevice_t device, nvmlPciInfo_t* pci)
{
    ENTER_DEVICE(nvmlDeviceGetPciInfo_v3, device, pci);
    memset(pci, 0, sizeof *pci);
    snprintf(pci->busIdLegacy, sizeof pci->busIdLegacy, "%04X:%02X:%02X.%X", d->pci_domain, d->pci_bus, d->pci_device, d->pci_function);
    snprintf(pci->busId, sizeof pci->busId, "%08X:%02X:%02X.%X", d->pci_domain, d->pci_bus, d->pci_device, d->pci_function);
    pci->domain = d->pci_domain;
    pci->bus = d->pci_bus;
    pci->device = d->pci_device;
    pci->pciDeviceId = d->pci_device_id;
    pci->pciSubSystemId = d->pci_subsystem_id;
    LEAVE(NVML_SUCCESS);
}

/* v1 counts reserved memory as used (R510+ drivers); v2 reports it apart. */
EXPORT nvmlReturn_t nvmlDeviceGetMemoryInfo(nvmlDevice_t device, nvmlMemory_t* memory)
{
    ENTER_DEVICE(nvmlDeviceGetMemoryInfo, device, memory);
    if (fake_reality_mig_memory(d) != NVML_SUCCESS)
    {
        LEAVE(fake_reality_mig_memory(d));
    }
    memory->total = d->memory_total;
    memory->used = d->memory_used + d->memory_reserved;
    memory->free = d->memory_total - memory->used;
    LEAVE(NVML_SUCCESS);
}

#ifndef FAKE_OLD_DRIVER
EXPORT nvmlReturn_t nvmlDeviceGetMemoryInfo_v2(nvmlDevice_t device, nvmlMemory_v2_t* memory)
{
    ENTER_DEVICE(nvmlDeviceGetMemoryInfo_v2, device, memory);
    if (fake_reality_mig_memory(d) != NVML_SUCCESS)
    {
        LEAVE(fake_reality_mig_memory(d));
    }
    if (memory->version != NVML_MEMORY_V2)
    {
        LEAVE(NVML_ERROR_ARGUMENT_VERSION_MISMATCH);
    }
    memory->total = d->memory_total;
    memory->reserved = d->memory_reserved;
    memory->used = d->memory_used;
    memory->free = d->memory_total - d->memory_used - d->memory_reserved;
    LEAVE(NVML_SUCCESS);
}
#endif

EXPORT nvmlReturn_t nvmlDeviceGetUtilizationRates(nvmlDevice_t device, nvmlUtilization_t* utilization)
{
    ENTER_DEVICE(nvmlDeviceGetUtilizationRates, device, utilization);
    if (d->mig_current == 1)
    {
        LEAVE(NVML_ERROR_NOT_SUPPORTED); /* "On MIG-enabled GPUs, querying device utilization rates is not currently supported" */
    }
    utilization->gpu = d->utilization_gpu[d->utilization_gpu_next];
    d->utilization_gpu_next = (d->utilization_gpu_next + 1) % d->utilization_gpu_count;
    utilization->memory = d->utilization_memory;
    LEAVE(NVML_SUCCESS);
}

EXPORT nvmlReturn_t nvmlDeviceGetTemperature(nvmlDevice_t device, int sensor, unsigned int* temperature)
{
    ENTER_DEVICE(nvmlDeviceGetTemperature, device, temperature);
    if (sensor != 0)
    {
        LEAVE(NVML_ERROR_INVALID_ARGUMENT);
    }
    *temperature = (unsigned int)d->temperature;
    LEAVE(NVML_SUCCESS);
}

#ifndef FAKE_OLD_DRIVER
EXPORT nvmlReturn_t nvmlDeviceGetTemperatureV(nvmlDevice_t device, nvmlTemperature_v1_t* temperature)
{
    ENTER_DEVICE(nvmlDeviceGetTemperatureV, device, temperature);
    if (temperature->version != NVML_TEMPERATURE_V1)
    {
        LEAVE(NVML_ERROR_ARGUMENT_VERSION_MISMATCH);
    }
    if (temperature->sensorType != 0)
    {
        LEAVE(NVML_ERROR_INVALID_ARGUMENT);
    }
    temperature->temperature = d->temperature;
    LEAVE(NVML_SUCCESS);
}
#endif

EXPORT nvmlReturn_t nvmlDeviceGetPowerUsage(nvmlDevice_t device, unsigned int* power)
{
    ENTER_DEVICE(nvmlDeviceGetPowerUsage, device, power);
    *power = d->power_mw;
    LEAVE(NVML_SUCCESS);
}

EXPORT nvmlReturn_t nvmlDeviceGetEnforcedPowerLimit(nvmlDevice_t device, unsigned int* limit)
{
    ENTER_DEVICE(nvmlDeviceGetEnforcedPowerLimit, device, limit);
    *limit = d->power_limit_mw;
    LEAVE(NVML_SUCCESS);
}

EXPORT nvmlReturn_t nvmlDeviceGetClockInfo(nvmlDevice_t device, int type, unsigned int* clock)
{
    ENTER_DEVICE(nvmlDeviceGetClockInfo, device, clock);
    if (type != 1)
    {
        LEAVE(NVML_ERROR_NOT_SUPPORTED);
    }
    *clock = d->clock_sm;
    LEAVE(NVML_SUCCESS);
}

EXPORT nvmlReturn_t nvmlDeviceGetMaxClockInfo(nvmlDevice_t device, int type, unsigned int* clock)
{
    ENTER_DEVICE(nvmlDeviceGetMaxClockInfo, device, clock);
    if (type != 1 && type != 2)
    {
        LEAVE(NVML_ERROR_NOT_SUPPORTED);
    }
    *clock = type == 1 ? d->clock_sm_max : d->clock_mem_max;
    LEAVE(NVML_SUCCESS);
}

#ifndef FAKE_OLD_DRIVER
EXPORT nvmlReturn_t nvmlDeviceGetCurrentClocksEventReasons(nvmlDevice_t device, unsigned long long* reasons)
{
    ENTER_DEVICE(nvmlDeviceGetCurrentClocksEventReasons, device, reasons);
    *reasons = d->clock_reasons;
    LEAVE(NVML_SUCCESS);
}
#endif

EXPORT nvmlReturn_t nvmlDeviceGetCurrentClocksThrottleReasons(nvmlDevice_t device, unsigned long long* reasons)
{
    ENTER_DEVICE(nvmlDeviceGetCurrentClocksThrottleReasons, device, reasons);
    *reasons = d->clock_reasons;
    LEAVE(NVML_SUCCESS);
}

EXPORT nvmlReturn_t nvmlDeviceGetTotalEccErrors(nvmlDevice_t device, int errorType, int counterType, unsigned long long* count)
{
    ENTER_DEVICE(nvmlDeviceGetTotalEccErrors, device, count);
    if (counterType != 0 && counterType != 1)
    {
        LEAVE(NVML_ERROR_INVALID_ARGUMENT);
    }
    if (errorType == 0)
    {
        *count = d->ecc_corrected;
    }
    else if (errorType == 1)
    {
        *count = d->ecc_uncorrected;
    }
    else
    {
        LEAVE(NVML_ERROR_INVALID_ARGUMENT);
    }
    LEAVE(NVML_SUCCESS);
}

EXPORT nvmlReturn_t nvmlDeviceGetCudaComputeCapability(nvmlDevice_t device, int* major, int* minor)
{
    ENTER_DEVICE(nvmlDeviceGetCudaComputeCapability, device, major);
    if (minor == NULL)
    {
        LEAVE(NVML_ERROR_INVALID_ARGUMENT);
    }
    *major = d->cc_major;
    *minor = d->cc_minor;
    LEAVE(NVML_SUCCESS);
}

EXPORT nvmlReturn_t nvmlDeviceGetMigMode(nvmlDevice_t device, unsigned int* current, unsigned int* pending)
{
    ENTER_DEVICE(nvmlDeviceGetMigMode, device, current);
    if (pending == NULL)
    {
        LEAVE(NVML_ERROR_INVALID_ARGUMENT);
    }
    *current = d->mig_current;
    *pending = d->mig_pending;
    LEAVE(NVML_SUCCESS);
}

EXPORT nvmlReturn_t nvmlDeviceGetMemoryBusWidth(nvmlDevice_t device, unsigned int* width)
{
    ENTER_DEVICE(nvmlDeviceGetMemoryBusWidth, device, width);
    *width = d->bus_width;
    LEAVE(NVML_SUCCESS);
}

EXPORT nvmlReturn_t nvmlEventSetCreate(nvmlEventSet_t* set)
{
    ENTER(nvmlEventSetCreate, NO_DEVICE);
    if (set == NULL)
    {
        LEAVE(NVML_ERROR_INVALID_ARGUMENT);
    }
    struct fake_event_set* s = calloc(1, sizeof *s);
    if (s == NULL)
    {
        LEAVE(NVML_ERROR_UNKNOWN);
    }
    s->magic = EVENT_SET_MAGIC;
    live_event_sets++;
    *set = s;
    LEAVE(NVML_SUCCESS);
}

EXPORT nvmlReturn_t nvmlEventSetFree(nvmlEventSet_t set)
{
    ENTER(nvmlEventSetFree, NO_DEVICE);
    if (set == NULL || set->magic != EVENT_SET_MAGIC)
    {
        LEAVE(NVML_ERROR_INVALID_ARGUMENT);
    }
    set->magic = 0;
    free(set);
    live_event_sets--;
    LEAVE(NVML_SUCCESS);
}

EXPORT nvmlReturn_t nvmlDeviceGetSupportedEventTypes(nvmlDevice_t device, unsigned long long* types)
{
    ENTER_DEVICE(nvmlDeviceGetSupportedEventTypes, device, types);
    *types = d->supported_events;
    LEAVE(NVML_SUCCESS);
}

EXPORT nvmlReturn_t nvmlDeviceRegisterEvents(nvmlDevice_t device, unsigned long long types, nvmlEventSet_t set)
{
    ENTER_DEVICE(nvmlDeviceRegisterEvents, device, set);
    if (set->magic != EVENT_SET_MAGIC || (types & ~d->supported_events) != 0)
    {
        LEAVE(NVML_ERROR_NOT_SUPPORTED);
    }
    set->registered[d->index] |= types;
    LEAVE(NVML_SUCCESS);
}

/* Pops the queue: a bare return code, or an event for a device and type this set registered (others are dropped,
 * as NVML never delivers them). An empty queue waits up to the timeout for a push, then returns TIMEOUT. */
EXPORT nvmlReturn_t nvmlEventSetWait_v2(nvmlEventSet_t set, nvmlEventData_t* data, unsigned int timeoutms)
{
    ENTER(nvmlEventSetWait_v2, NO_DEVICE);
    if (set == NULL || set->magic != EVENT_SET_MAGIC || data == NULL)
    {
        LEAVE(NVML_ERROR_INVALID_ARGUMENT);
    }
    struct timespec deadline;
    clock_gettime(CLOCK_REALTIME, &deadline);
    deadline.tv_sec += timeoutms / 1000;
    deadline.tv_nsec += (long)(timeoutms % 1000) * 1000000L;
    if (deadline.tv_nsec >= 1000000000L)
    {
        deadline.tv_sec++;
        deadline.tv_nsec -= 1000000000L;
    }
    for (;;)
    {
        while (queue_length > 0)
        {
            struct queued item = queue[queue_head];
            queue_head = (queue_head + 1) % MAX_QUEUE;
            queue_length--;
            if (!item.is_event)
            {
                LEAVE(item.code);
            }
            if (item.device < 0 || item.device >= device_count || (set->registered[item.device] & item.type) == 0)
            {
                continue;
            }
            memset(data, 0, sizeof *data);
            data->device = &devices[item.device];
            data->eventType = item.type;
            data->eventData = item.data;
            data->gpuInstanceId = 0xFFFFFFFFu;
            data->computeInstanceId = 0xFFFFFFFFu;
            LEAVE(NVML_SUCCESS);
        }
        if (pthread_cond_timedwait(&queue_changed, &lock, &deadline) == ETIMEDOUT && queue_length == 0)
        {
            LEAVE(NVML_ERROR_TIMEOUT);
        }
    }
}

/* ---- CUDA driver API ---- */
static int cuda_device_of(CUdevice ordinal)
{
    if (ordinal < 0 || ordinal >= cuda_count)
    {
        return NO_DEVICE;
    }
    int index = cuda_order[ordinal];
    return index >= 0 && index < device_count ? index : NO_DEVICE;
}

#define ENTER_CUDA_DEVICE(function, ordinal)             \
    pthread_mutex_lock(&lock);                           \
    configure_from_file_locked();                        \
    int index_ = cuda_device_of(ordinal);                \
    int injected_ = enter_locked(FN_##function, index_); \
    if (injected_ != 0)                                  \
    {                                                    \
        pthread_mutex_unlock(&lock);                     \
        return injected_;                                \
    }                                                    \
    if (!cuda_initialized)                               \
    {                                                    \
        LEAVE(CUDA_ERROR_NOT_INITIALIZED);               \
    }                                                    \
    if (index_ < 0)                                      \
    {                                                    \
        LEAVE(CUDA_ERROR_INVALID_DEVICE);                \
    }                                                    \
    struct fake_device* d = &devices[index_];

EXPORT CUresult cuInit(unsigned int flags)
{
    ENTER(cuInit, NO_DEVICE);
    if (flags != 0)
    {
        LEAVE(CUDA_ERROR_INVALID_VALUE);
    }
    if (cuda_count == 0 || !cuda_reachable)
    {
        LEAVE(CUDA_ERROR_NO_DEVICE);
    }
    cuda_initialized = 1;
    LEAVE(CUDA_SUCCESS);
}

EXPORT CUresult cuDriverGetVersion(int* version)
{
    ENTER(cuDriverGetVersion, NO_DEVICE);
    if (version == NULL)
    {
        LEAVE(CUDA_ERROR_INVALID_VALUE);
    }
    *version = cuda_version;
    LEAVE(CUDA_SUCCESS);
}

EXPORT CUresult cuDeviceGetCount(int* count)
{
    ENTER(cuDeviceGetCount, NO_DEVICE);
    if (!cuda_initialized)
    {
        LEAVE(CUDA_ERROR_NOT_INITIALIZED);
    }
    if (count == NULL)
    {
        LEAVE(CUDA_ERROR_INVALID_VALUE);
    }
    *count = cuda_count;
    LEAVE(CUDA_SUCCESS);
}

EXPORT CUresult cuDeviceGet(CUdevice* device, int ordinal)
{
    ENTER_CUDA_DEVICE(cuDeviceGet, ordinal);
    (void)d;
    if (device == NULL)
    {
        LEAVE(CUDA_ERROR_INVALID_VALUE);
    }
    *device = ordinal;
    LEAVE(CUDA_SUCCESS);
}

EXPORT CUresult cuDeviceGetAttribute(int* value, int attribute, CUdevice device)
{
    ENTER_CUDA_DEVICE(cuDeviceGetAttribute, device);
    if (value == NULL)
    {
        LEAVE(CUDA_ERROR_INVALID_VALUE);
    }
    switch (attribute)
    {
    case 13: *value = (int)d->clock_sm_max * 1000; break;
    case 16: *value = fake_reality_cuda_sm(d); break;
    case 33: *value = (int)d->pci_bus; break;
    case 34: *value = (int)d->pci_device; break;
    case 36: *value = (int)d->clock_mem_max * 1000; break;
    case 37: *value = (int)d->bus_width; break;
    case 50: *value = (int)d->pci_domain; break;
    case 75: *value = d->cc_major; break;
    case 76: *value = d->cc_minor; break;
    default: LEAVE(CUDA_ERROR_INVALID_VALUE);
    }
    LEAVE(CUDA_SUCCESS);
}

/* "GPU-xxxxxxxx-xxxx-xxxx-xxxx-xxxxxxxxxxxx" (or a MIG-... string) to 16 bytes, in order. */
static void parse_uuid(const char* text, CUuuid* uuid)
{
    memset(uuid, 0, sizeof *uuid);
    const char* p = strchr(text, '-');
    p = p == NULL ? text : p + 1;
    int n = 0;
    while (*p && n < 32)
    {
        if (isxdigit((unsigned char)*p))
        {
            int v = isdigit((unsigned char)*p) ? *p - '0' : (tolower((unsigned char)*p) - 'a' + 10);
            uuid->bytes[n / 2] = (char)(n % 2 == 0 ? v << 4 : ((unsigned char)uuid->bytes[n / 2] | v));
            n++;
        }
        p++;
    }
}

EXPORT CUresult cuDeviceGetUuid(CUuuid* uuid, CUdevice device)
{
    ENTER_CUDA_DEVICE(cuDeviceGetUuid, device);
    if (uuid == NULL)
    {
        LEAVE(CUDA_ERROR_INVALID_VALUE);
    }
    fake_reality_cuda_uuid(d, device, uuid);
    LEAVE(CUDA_SUCCESS);
}

EXPORT CUresult cuDeviceGetUuid_v2(CUuuid* uuid, CUdevice device)
{
    ENTER_CUDA_DEVICE(cuDeviceGetUuid_v2, device);
    if (uuid == NULL)
    {
        LEAVE(CUDA_ERROR_INVALID_VALUE);
    }
    fake_reality_cuda_uuid(d, device, uuid);
    LEAVE(CUDA_SUCCESS);
}

EXPORT CUresult cuDeviceGetPCIBusId(char* busId, int length, CUdevice device)
{
    ENTER_CUDA_DEVICE(cuDeviceGetPCIBusId, device);
    if (busId == NULL || length < 13)
    {
        LEAVE(CUDA_ERROR_INVALID_VALUE);
    }
    snprintf(busId, (size_t)length, "%04x:%02x:%02x.%x", d->pci_domain, d->pci_bus, d->pci_device, d->pci_function);
    LEAVE(CUDA_SUCCESS);
}

EXPORT CUresult cuDeviceTotalMem_v2(size_t* bytes, CUdevice device)
{
    ENTER_CUDA_DEVICE(cuDeviceTotalMem_v2, device);
    if (bytes == NULL)
    {
        LEAVE(CUDA_ERROR_INVALID_VALUE);
    }
    *bytes = (size_t)fake_reality_cuda_total(d);
    LEAVE(CUDA_SUCCESS);
}

/* Exported only so that a test can prove the backend never creates a context (a context costs GPU memory). */
EXPORT CUresult cuDevicePrimaryCtxRetain(CUcontext* context, CUdevice device)
{
    ENTER_CUDA_DEVICE(cuDevicePrimaryCtxRetain, device);
    (void)d;
    if (context != NULL)
    {
        *context = NULL;
    }
    LEAVE(CUDA_ERROR_NOT_SUPPORTED);
}

EXPORT CUresult cuCtxCreate_v2(CUcontext* context, unsigned int flags, CUdevice device)
{
    ENTER_CUDA_DEVICE(cuCtxCreate_v2, device);
    (void)d;
    (void)flags;
    if (context != NULL)
    {
        *context = NULL;
    }
    LEAVE(CUDA_ERROR_NOT_SUPPORTED);
}

/* ---- what real drivers do (../shared/reference/nvidia-realities.md) ----
 * MIG (mig.current 1): NVML utilization on the parent is NOT_SUPPORTED; parent memory answers NO_PERMISSION unless
 * mig.privileged (an unprivileged container on H100/A100); CUDA enumerates MIG devices, not the parent: each CUDA
 * ordinal of the GPU is a MIG device with a MIG- UUID (one per ordinal), the slice's memory (mig.slice.memory) and SM
 * count (mig.slice.sm). An unreachable kernel driver (global cuda.reachable 0): cuInit answers CUDA_ERROR_NO_DEVICE
 * whatever CUDA_VISIBLE_DEVICES says. */
static nvmlReturn_t fake_reality_mig_memory(const struct fake_device* d)
{
    return d->mig_current == 1 && !d->mig_privileged ? NVML_ERROR_NO_PERMISSION : NVML_SUCCESS;
}

static int fake_reality_cuda_sm(const struct fake_device* d)
{
    if (d->mig_current != 1)
    {
        return d->sm_count;
    }
    return d->mig_slice_sm > 0 ? d->mig_slice_sm : d->sm_count / 7;
}

static unsigned long long fake_reality_cuda_total(const struct fake_device* d)
{
    if (d->mig_current != 1)
    {
        return d->memory_total;
    }
    return d->mig_slice_memory > 0 ? d->mig_slice_memory : d->memory_total / 7;
}

static void fake_reality_cuda_uuid(const struct fake_device* d, int ordinal, CUuuid* uuid)
{
    if (d->mig_current != 1)
    {
        parse_uuid(d->cuda_uuid[0] != '\0' ? d->cuda_uuid : d->uuid, uuid);
        return;
    }
    char mig[96];
    snprintf(mig, sizeof mig, "MIG-%08x-4444-5555-6666-%012x", 0xb0000000u + (unsigned)d->index, 0x200u + (unsigned)ordinal);
    parse_uuid(mig, uuid);
}

static int fake_reality_set_locked(struct fake_device* d, const char* key, long long value)
{
    if (strcmp(key, "mig.privileged") == 0) d->mig_privileged = value != 0;
    else if (strcmp(key, "mig.slice.memory") == 0) d->mig_slice_memory = (unsigned long long)value;
    else if (strcmp(key, "mig.slice.sm") == 0) d->mig_slice_sm = (int)value;
    else return -1;
    return 0;
}

/* ---- control functions for the tests ---- */
static int function_id(const char* name)
{
    if (name == NULL || strcmp(name, "*") == 0)
    {
        return -1;
    }
    for (int i = 0; i < FN_COUNT; i++)
    {
        if (strcmp(fn_names[i], name) == 0)
        {
            return i;
        }
    }
    return -2;
}

/* Forgets everything (calls, injections, queued events, event sets stay counted) and makes COUNT default devices. */
EXPORT void fake_reset(int count)
{
    pthread_mutex_lock(&lock);
    reset_locked(count);
    pthread_mutex_unlock(&lock);
}

static int set_i64_locked(int device, const char* key, long long value)
{
    if (device == -1)
    {
        if (strcmp(key, "cuda.version") == 0)
        {
            cuda_version = (int)value;
            return 0;
        }
        if (strcmp(key, "cuda.reachable") == 0)
        {
            cuda_reachable = value != 0;
            return 0;
        }
        return -1;
    }
    if (device < 0 || device >= device_count)
    {
        return -1;
    }
    struct fake_device* d = &devices[device];
    unsigned long long u = (unsigned long long)value;
    if (strcmp(key, "memory.total") == 0) d->memory_total = u;
    else if (strcmp(key, "memory.used") == 0) d->memory_used = u;
    else if (strcmp(key, "memory.reserved") == 0) d->memory_reserved = u;
    else if (strcmp(key, "utilization.gpu") == 0)
    {
        d->utilization_gpu[0] = (unsigned int)value;
        d->utilization_gpu_count = 1;
        d->utilization_gpu_next = 0;
    }
    else if (strcmp(key, "utilization.memory") == 0) d->utilization_memory = (unsigned int)value;
    else if (strcmp(key, "temperature") == 0) d->temperature = (int)value;
    else if (strcmp(key, "power.mw") == 0) d->power_mw = (unsigned int)value;
    else if (strcmp(key, "power.limit.mw") == 0) d->power_limit_mw = (unsigned int)value;
    else if (strcmp(key, "clock.sm") == 0) d->clock_sm = (unsigned int)value;
    else if (strcmp(key, "clock.sm.max") == 0) d->clock_sm_max = (unsigned int)value;
    else if (strcmp(key, "clock.mem.max") == 0) d->clock_mem_max = (unsigned int)value;
    else if (strcmp(key, "bus.width") == 0) d->bus_width = (unsigned int)value;
    else if (strcmp(key, "clock.reasons") == 0) d->clock_reasons = u;
    else if (strcmp(key, "ecc.corrected") == 0) d->ecc_corrected = u;
    else if (strcmp(key, "ecc.uncorrected") == 0) d->ecc_uncorrected = u;
    else if (strcmp(key, "events.supported") == 0) d->supported_events = u;
    else if (strcmp(key, "cc.major") == 0) d->cc_major = (int)value;
    else if (strcmp(key, "cc.minor") == 0) d->cc_minor = (int)value;
    else if (strcmp(key, "sm.count") == 0) d->sm_count = (int)value;
    else if (strcmp(key, "mig.current") == 0) d->mig_current = (unsigned int)value;
    else if (strcmp(key, "mig.pending") == 0) d->mig_pending = (unsigned int)value;
    else if (strcmp(key, "pci.domain") == 0) d->pci_domain = (unsigned int)value;
    else if (strcmp(key, "pci.bus") == 0) d->pci_bus = (unsigned int)value;
    else if (strcmp(key, "pci.device") == 0) d->pci_device = (unsigned int)value;
    else if (strcmp(key, "pci.function") == 0) d->pci_function = (unsigned int)value;
    else if (strcmp(key, "pci.device_id") == 0) d->pci_device_id = (unsigned int)value;
    else return fake_reality_set_locked(d, key, value);
    return 0;
}

/* Sets a number of device DEVICE (or a global one with DEVICE -1); 0 on success, -1 for an unknown key or device. */
EXPORT int fake_set_i64(int device, const char* key, long long value)
{
    pthread_mutex_lock(&lock);
    int result = set_i64_locked(device, key, value);
    pthread_mutex_unlock(&lock);
    return result;
}

static int set_str_locked(int device, const char* key, const char* value)
{
    if (value == NULL)
    {
        return -1;
    }
    if (device == -1)
    {
        if (strcmp(key, "driver.version") == 0)
        {
            snprintf(driver_version, sizeof driver_version, "%s", value);
            return 0;
        }
        return -1;
    }
    if (device < 0 || device >= device_count)
    {
        return -1;
    }
    struct fake_device* d = &devices[device];
    if (strcmp(key, "uuid") == 0) snprintf(d->uuid, sizeof d->uuid, "%s", value);
    else if (strcmp(key, "cuda.uuid") == 0) snprintf(d->cuda_uuid, sizeof d->cuda_uuid, "%s", value);
    else if (strcmp(key, "name") == 0) snprintf(d->name, sizeof d->name, "%s", value);
    else return -1;
    return 0;
}

/* Sets a string of device DEVICE (or a global one with DEVICE -1); 0 on success, -1 for an unknown key or device. */
EXPORT int fake_set_str(int device, const char* key, const char* value)
{
    pthread_mutex_lock(&lock);
    int result = set_str_locked(device, key, value);
    pthread_mutex_unlock(&lock);
    return result;
}

/* The GPU utilization the next readings of DEVICE return, in turn, round and round. */
EXPORT int fake_set_utilization_series(int device, const unsigned int* values, int count)
{
    if (values == NULL || count < 1 || count > MAX_SERIES)
    {
        return -1;
    }
    pthread_mutex_lock(&lock);
    int result = -1;
    if (device >= 0 && device < device_count)
    {
        memcpy(devices[device].utilization_gpu, values, (size_t)count * sizeof *values);
        devices[device].utilization_gpu_count = count;
        devices[device].utilization_gpu_next = 0;
        result = 0;
    }
    pthread_mutex_unlock(&lock);
    return result;
}

/* CUDA ordinal k is NVML device ORDER[k]; COUNT below the device count hides the rest from CUDA. */
EXPORT int fake_set_cuda_order(const int* order, int count)
{
    if (count < 0 || count > MAX_DEVICES || (count > 0 && order == NULL))
    {
        return -1;
    }
    pthread_mutex_lock(&lock);
    for (int i = 0; i < count; i++)
    {
        cuda_order[i] = order[i];
    }
    cuda_count = count;
    pthread_mutex_unlock(&lock);
    return 0;
}

static int inject_locked(const char* function, int device, int code, int after, int times)
{
    int id = function_id(function);
    if (id == -2 || injection_count == MAX_INJECTIONS)
    {
        return -1;
    }
    injections[injection_count++] = (struct injection){ id, device, code, after, times };
    return 0;
}

/* FUNCTION ("*" for every one) on DEVICE (-1 for every call) returns CODE, after AFTER successful calls, TIMES times
 * (-1: forever). Device-less calls (init, count, event waits) match only DEVICE -1. */
EXPORT int fake_inject(const char* function, int device, int code, int after, int times)
{
    pthread_mutex_lock(&lock);
    int result = inject_locked(function, device, code, after, times);
    pthread_mutex_unlock(&lock);
    return result;
}

static void push_locked(int is_event, int code, int device, unsigned long long type, unsigned long long data)
{
    if (queue_length == MAX_QUEUE)
    {
        return;
    }
    queue[(queue_head + queue_length) % MAX_QUEUE] = (struct queued){ is_event, code, device, type, data };
    queue_length++;
    pthread_cond_broadcast(&queue_changed);
}

/* Makes FUNCTION ("*" for every one) on DEVICE (-1 for every call) hang until fake_unblock; -1 for an unknown name. */
EXPORT int fake_block(const char* function, int device)
{
    int id = function_id(function);
    if (id == -2)
    {
        return -1;
    }
    pthread_mutex_lock(&lock);
    blocked_function = id;
    blocked_device = device;
    pthread_mutex_unlock(&lock);
    return 0;
}

/* Releases the calls fake_block holds. */
EXPORT void fake_unblock(void)
{
    pthread_mutex_lock(&lock);
    blocked_function = -2;
    pthread_cond_broadcast(&unblocked);
    pthread_mutex_unlock(&lock);
}

/* How many calls fake_block holds now. */
EXPORT int fake_blocked_calls(void)
{
    pthread_mutex_lock(&lock);
    int n = blocked_waiters;
    pthread_mutex_unlock(&lock);
    return n;
}

/* Queues an event (TYPE is an nvmlEventType mask bit; DATA the Xid) for nvmlEventSetWait_v2. */
EXPORT void fake_push_event(int device, unsigned long long type, unsigned long long data)
{
    pthread_mutex_lock(&lock);
    push_locked(1, 0, device, type, data);
    pthread_mutex_unlock(&lock);
}

/* Queues a bare return code (TIMEOUT, GPU_IS_LOST, ...) for nvmlEventSetWait_v2. */
EXPORT void fake_push_wait_result(int code)
{
    pthread_mutex_lock(&lock);
    push_locked(0, code, NO_DEVICE, 0, 0);
    pthread_mutex_unlock(&lock);
}

/* How many entries nvmlEventSetWait_v2 has not taken yet. */
EXPORT int fake_queue_length(void)
{
    pthread_mutex_lock(&lock);
    int n = queue_length;
    pthread_mutex_unlock(&lock);
    return n;
}

/* How often FUNCTION was called since the last reset; -1 for an unknown name. */
EXPORT long long fake_calls(const char* function)
{
    int id = function_id(function);
    if (id < 0)
    {
        return -1;
    }
    pthread_mutex_lock(&lock);
    long long n = (long long)calls[id];
    pthread_mutex_unlock(&lock);
    return n;
}

/* nvmlInit_v2 calls not yet matched by nvmlShutdown. */
EXPORT int fake_init_count(void)
{
    pthread_mutex_lock(&lock);
    int n = init_count;
    pthread_mutex_unlock(&lock);
    return n;
}

/* Event sets created and not freed. */
EXPORT int fake_live_event_sets(void)
{
    pthread_mutex_lock(&lock);
    int n = live_event_sets;
    pthread_mutex_unlock(&lock);
    return n;
}

/* Whether this build is the older driver (without the newer symbols). */
EXPORT int fake_is_old_driver(void)
{
#ifdef FAKE_OLD_DRIVER
    return 1;
#else
    return 0;
#endif
}

/* sizeof of a struct by its C name; -1 for an unknown one. */
EXPORT long long fake_sizeof(const char* type)
{
#define SIZE(t)                   \
    if (strcmp(type, #t) == 0)    \
    {                             \
        return (long long)sizeof(t); \
    }
    SIZE(nvmlPciInfo_t)
    SIZE(nvmlMemory_t)
    SIZE(nvmlMemory_v2_t)
    SIZE(nvmlUtilization_t)
    SIZE(nvmlEventData_t)
    SIZE(nvmlTemperature_v1_t)
    SIZE(nvmlProcessInfo_t)
    SIZE(nvmlDevice_t)
    SIZE(nvmlEventSet_t)
    SIZE(nvmlReturn_t)
    SIZE(CUuuid)
    SIZE(CUresult)
    SIZE(CUdevice)
#undef SIZE
    return -1;
}

/* offsetof of "struct.field"; -1 for an unknown one. */
EXPORT long long fake_offsetof(const char* field)
{
#define OFFSET(t, f)                      \
    if (strcmp(field, #t "." #f) == 0)    \
    {                                     \
        return (long long)offsetof(t, f); \
    }
    OFFSET(nvmlPciInfo_t, busIdLegacy)
    OFFSET(nvmlPciInfo_t, domain)
    OFFSET(nvmlPciInfo_t, bus)
    OFFSET(nvmlPciInfo_t, device)
    OFFSET(nvmlPciInfo_t, pciDeviceId)
    OFFSET(nvmlPciInfo_t, pciSubSystemId)
    OFFSET(nvmlPciInfo_t, busId)
    OFFSET(nvmlMemory_t, total)
    OFFSET(nvmlMemory_t, free)
    OFFSET(nvmlMemory_t, used)
    OFFSET(nvmlMemory_v2_t, version)
    OFFSET(nvmlMemory_v2_t, total)
    OFFSET(nvmlMemory_v2_t, reserved)
    OFFSET(nvmlMemory_v2_t, free)
    OFFSET(nvmlMemory_v2_t, used)
    OFFSET(nvmlUtilization_t, gpu)
    OFFSET(nvmlUtilization_t, memory)
    OFFSET(nvmlEventData_t, device)
    OFFSET(nvmlEventData_t, eventType)
    OFFSET(nvmlEventData_t, eventData)
    OFFSET(nvmlEventData_t, gpuInstanceId)
    OFFSET(nvmlEventData_t, computeInstanceId)
    OFFSET(nvmlTemperature_v1_t, version)
    OFFSET(nvmlTemperature_v1_t, sensorType)
    OFFSET(nvmlTemperature_v1_t, temperature)
    OFFSET(nvmlProcessInfo_t, pid)
    OFFSET(nvmlProcessInfo_t, usedGpuMemory)
    OFFSET(nvmlProcessInfo_t, gpuInstanceId)
    OFFSET(nvmlProcessInfo_t, computeInstanceId)
#undef OFFSET
    return -1;
}

/* The struct version words the real header defines, so the tests check the managed constants against them. */
EXPORT unsigned int fake_struct_version(const char* name)
{
    if (strcmp(name, "nvmlMemory_v2") == 0)
    {
        return NVML_MEMORY_V2;
    }
    if (strcmp(name, "nvmlTemperature_v1") == 0)
    {
        return NVML_TEMPERATURE_V1;
    }
    return 0;
}

/* ---- processes (nvmlDevice{Compute,Graphics}RunningProcesses_v3) ---- */
static int add_process_locked(int device, int kind, unsigned int pid, unsigned long long memory)
{
    if (device < 0 || device >= device_count || kind < 1 || kind > 3 || devices[device].process_count == MAX_PROCESSES)
    {
        return -1;
    }
    struct fake_device* d = &devices[device];
    d->process_pid[d->process_count] = pid;
    d->process_memory[d->process_count] = memory;
    d->process_kind[d->process_count] = kind;
    d->process_count++;
    return 0;
}

/* A process on DEVICE: KIND 1 compute, 2 graphics, 3 both; MEMORY in bytes (ULLONG_MAX: not available). 0, or -1. */
EXPORT int fake_add_process(int device, int kind, unsigned int pid, unsigned long long memory)
{
    pthread_mutex_lock(&lock);
    int result = add_process_locked(device, kind, pid, memory);
    pthread_mutex_unlock(&lock);
    return result;
}

#ifndef FAKE_OLD_DRIVER
/* The header's contract: *count too small (or infos NULL with processes running) is INSUFFICIENT_SIZE with *count set
 * to the number needed; otherwise the entries are copied and *count is their number. */
static nvmlReturn_t list_processes_locked(const struct fake_device* d, int kind, unsigned int* count, nvmlProcessInfo_t* infos)
{
    unsigned int n = 0;
    for (int i = 0; i < d->process_count; i++)
    {
        if (d->process_kind[i] & kind)
        {
            n++;
        }
    }
    if (n == 0)
    {
        *count = 0;
        return NVML_SUCCESS;
    }
    if (infos == NULL || *count < n)
    {
        *count = n;
        return NVML_ERROR_INSUFFICIENT_SIZE;
    }
    unsigned int k = 0;
    for (int i = 0; i < d->process_count; i++)
    {
        if (d->process_kind[i] & kind)
        {
            infos[k].pid = d->process_pid[i];
            infos[k].usedGpuMemory = d->process_memory[i];
            infos[k].gpuInstanceId = 0xFFFFFFFFu;
            infos[k].computeInstanceId = 0xFFFFFFFFu;
            k++;
        }
    }
    *count = n;
    return NVML_SUCCESS;
}

EXPORT nvmlReturn_t nvmlDeviceGetComputeRunningProcesses_v3(nvmlDevice_t device, unsigned int* count, nvmlProcessInfo_t* infos)
{
    ENTER_DEVICE(nvmlDeviceGetComputeRunningProcesses_v3, device, count);
    LEAVE(list_processes_locked(d, 1, count, infos));
}

EXPORT nvmlReturn_t nvmlDeviceGetGraphicsRunningProcesses_v3(nvmlDevice_t device, unsigned int* count, nvmlProcessInfo_t* infos)
{
    ENTER_DEVICE(nvmlDeviceGetGraphicsRunningProcesses_v3, device, count);
    LEAVE(list_processes_locked(d, 2, count, infos));
}

/* Exported by the drivers whose _v3 entries are 24 bytes again (R535 after nvmlDeviceGetRunningProcessDetailList
 * appeared); the fake answers NOT_SUPPORTED: the backend only probes for them. */
EXPORT nvmlReturn_t nvmlDeviceGetConfComputeMemSizeInfo(nvmlDevice_t device, void* info)
{
    (void)device;
    (void)info;
    return NVML_ERROR_NOT_SUPPORTED;
}

EXPORT nvmlReturn_t nvmlDeviceGetRunningProcessDetailList(nvmlDevice_t device, void* list)
{
    (void)device;
    (void)list;
    return NVML_ERROR_NOT_SUPPORTED;
}
#endif
