#include <linux/types.h>
struct s { __u64 a; };
