#include <linux/types.h>
/* a hole at bytes 2..3 on every target */
struct s { __u16 a; __u32 b; };
