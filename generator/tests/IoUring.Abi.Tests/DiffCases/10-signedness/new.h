#include <linux/types.h>
struct s { __s32 a; __u32 b; };
