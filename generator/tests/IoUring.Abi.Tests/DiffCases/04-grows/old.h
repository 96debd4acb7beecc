#include <linux/types.h>
struct plain { __u64 a; };
struct io_uring_cqe { __u64 user_data; __s32 res; __u32 flags; };
struct negotiated { __u32 size; __u32 flags; __u64 a; };
