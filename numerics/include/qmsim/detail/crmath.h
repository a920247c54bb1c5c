// TEMPORARY: replaced by the correctly rounded implementation (issue 4, numerics helper).
#pragma once
namespace qmsim { namespace num {
QMSIM_HD float exp_cr(float x) { return static_cast<float>(exp(static_cast<double>(x))); }
QMSIM_HD float log1p_cr(float x) { return static_cast<float>(log1p(static_cast<double>(x))); }
}}
