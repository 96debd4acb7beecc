#include <linux/types.h>
struct s { __u32 new_name; __u32 b; };
