// The umbrella header: everything an application needs.
#pragma once

#include "gpt/config.h"
#include "gpt/cpu.h"
#include "gpt/error.h"
#include "gpt/model.h"
#include "gpt/ops.h"
#include "gpt/perplexity.h"
#include "gpt/session.h"
#include "gpt/tensor.h"
#include "gpt/types.h"
