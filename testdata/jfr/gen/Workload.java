import java.util.concurrent.locks.LockSupport;

/** A small JVM workload for JFR test recordings: CPU, allocation, monitor contention, parking. */
public class Workload {
    static final Object LOCK = new Object();
    static volatile long sink;

    static long fib(int n) {
        return n < 2 ? n : fib(n - 1) + fib(n - 2);
    }

    static void burn(long until) {
        while (System.nanoTime() < until) {
            sink += fib(22);
        }
    }

    static void allocate(long until) {
        while (System.nanoTime() < until) {
            byte[][] keep = new byte[64][];
            for (int i = 0; i < keep.length; i++) {
                keep[i] = new byte[(i % 8 + 1) * 1024];
            }
            byte[] big = new byte[512 * 1024];
            sink += keep.length + big.length;
        }
    }

    static void contend(long until) {
        while (System.nanoTime() < until) {
            synchronized (LOCK) {
                long end = System.nanoTime() + 2_000_000;
                while (System.nanoTime() < end) {
                    sink++;
                }
            }
        }
    }

    static void park(long until) {
        while (System.nanoTime() < until) {
            LockSupport.parkNanos(30_000_000);
        }
    }

    public static void main(String[] args) throws Exception {
        long seconds = args.length > 0 ? Long.parseLong(args[0]) : 2;
        long until = System.nanoTime() + seconds * 1_000_000_000L;
        Thread[] ts = {
            new Thread(() -> burn(until), "burner"),
            new Thread(() -> allocate(until), "allocator"),
            new Thread(() -> contend(until), "contender-1"),
            new Thread(() -> contend(until), "contender-2"),
            new Thread(() -> park(until), "parker"),
        };
        for (Thread t : ts) t.start();
        for (Thread t : ts) t.join();
        System.out.println(sink);
    }
}
