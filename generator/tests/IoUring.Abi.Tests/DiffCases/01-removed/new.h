#include <linux/types.h>
struct keep { __u32 a; __u32 _b; };
enum e1 { E1_A, E1_B };
