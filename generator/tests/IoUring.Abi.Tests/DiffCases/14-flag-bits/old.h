#include <linux/types.h>
#define IORING_SETUP_OLD (1U << 30)
#define IORING_FEAT_A (1U << 2)
