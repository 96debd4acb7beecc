#include <linux/types.h>
#define IORING_SETUP_NEW (1U << 30)
#define IORING_FEAT_A (1U << 2)
#define IORING_FEAT_B (1U << 2)
