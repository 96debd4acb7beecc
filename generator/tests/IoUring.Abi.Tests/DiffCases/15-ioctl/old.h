#include <linux/types.h>
#include <linux/ioctl.h>
struct arg { __u64 a; };
#define GOLD_IOC_GET _IOR('x', 1, struct arg)
