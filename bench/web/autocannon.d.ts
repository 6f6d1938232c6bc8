/** The part of autocannon's API bench/web/run.ts uses (the package ships no types). */
declare module "autocannon" {
	interface Options {
		url: string;
		connections?: number;
		duration?: number;
		pipelining?: number;
		headers?: Record<string, string>;
	}
	interface Histogram {
		average: number;
		mean: number;
		p50: number;
		p99: number;
		total: number;
	}
	interface Result {
		requests: Histogram;
		latency: Histogram;
		non2xx: number;
		errors: number;
		timeouts: number;
		duration: number;
		"2xx": number;
	}
	function autocannon(options: Options): Promise<Result>;
	export default autocannon;
}
