//go:build !linux

package prom

func collectProcess(dst []Family) []Family {
	return append(dst, gaugeFamily(nameStartTime, helpStartTime, GaugeType, float64(initTime.UnixNano())/1e9))
}
