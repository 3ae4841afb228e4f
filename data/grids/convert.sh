#!/usr/bin/env bash
# Extracts the bus, generator and branch tables of a MATPOWER case file verbatim into three CSV files (README.md here).
# Usage: convert.sh <caseN.m> <caseN>   e.g.  git -C <matpower> show HEAD:data/case69.m > /tmp/case69.m && convert.sh /tmp/case69.m case69
set -euo pipefail
src=$1 name=$2
table() { # $1: the MATPOWER matrix name (bus, branch); prints its rows as CSV, columns unchanged
  awk -v m="mpc.$1 = \\[" '
    $0 ~ "^"m { inside = 1; next }
    inside && /^\];/ { exit }
    inside { sub(/%.*/, ""); sub(/;[[:space:]]*$/, ""); gsub(/^[[:space:]]+|[[:space:]]+$/, ""); if ($0 != "") { gsub(/[[:space:]]+/, ","); print } }
  ' "$src"
}
{ echo "bus_i,type,Pd,Qd,Gs,Bs,area,Vm,Va,baseKV,zone,Vmax,Vmin"; table bus; } > "$name.bus.csv"
{ echo "bus,Pg,Qg,Qmax,Qmin,Vg,mBase,status,Pmax,Pmin,Pc1,Pc2,Qc1min,Qc1max,Qc2min,Qc2max,ramp_agc,ramp_10,ramp_30,ramp_q,apf"; table gen; } > "$name.gen.csv"
{ echo "fbus,tbus,r,x,b,rateA,rateB,rateC,ratio,angle,status,angmin,angmax"; table branch; } > "$name.branch.csv"
