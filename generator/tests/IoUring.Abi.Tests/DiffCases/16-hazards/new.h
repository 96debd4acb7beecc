#include <linux/types.h>
struct s { __u64 a; };
struct proposal { void *addr; unsigned long len; int prot; };
