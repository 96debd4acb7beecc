#include <linux/types.h>
struct gone { __u32 a; };
struct keep { __u32 a; __u32 b; };
enum e1 { E1_A, E1_B, E1_C };
